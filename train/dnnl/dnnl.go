//go:build dnnl

package dnnl

/*
#cgo CFLAGS: -std=c11 -O3
#cgo LDFLAGS: -ldnnl -lgomp -lm
#include <stdlib.h>
#include "net.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Enabled reports whether this build has the oneDNN engine.
const Enabled = true

// ISA names the instruction set oneDNN dispatches to on this machine.
func ISA() string { return C.GoString(C.esw_isa()) }

// Block is the channels of one block of the engine's blocked activation
// layouts on this machine: 16 with AVX-512, 8 below.
func Block() int { return int(C.esw_block()) }

// Net is a network built with oneDNN. It owns its memory (on the C heap);
// Close frees it. A Net is not safe for concurrent use.
type Net struct {
	c      *C.esw_net
	params []Param
}

// New builds the network described by s, with zeroed parameters.
func New(s *Spec) (*Net, error) {
	if len(s.Vertices) == 0 || len(s.Vertices[0].Terms) != 0 {
		return nil, errors.New("dnnl: the first vertex must be the input")
	}
	vs := make([]C.esw_vertex, len(s.Vertices))
	var ts []C.esw_term
	for i, v := range s.Vertices {
		if i > 0 && len(v.Terms) == 0 {
			return nil, fmt.Errorf("dnnl: vertex %d has no input", i)
		}
		vs[i] = C.esw_vertex{
			c: C.int32_t(v.C), h: C.int32_t(v.H), w: C.int32_t(v.W),
			scale: C.int32_t(v.Scale), shift: C.int32_t(v.Shift), mean: C.int32_t(v.Mean), _var: C.int32_t(v.Var),
			term0: C.int32_t(len(ts)), nterms: C.int32_t(len(v.Terms)),
		}
		if v.BN {
			vs[i].bn = 1
		}
		for _, t := range v.Terms {
			if t.Src < 0 || t.Src >= i {
				return nil, fmt.Errorf("dnnl: vertex %d reads vertex %d, which does not come before it", i, t.Src)
			}
			ct := C.esw_term{
				src: C.int32_t(t.Src), wparam: C.int32_t(t.Weight),
				kh: C.int32_t(t.KH), kw: C.int32_t(t.KW), stride: C.int32_t(t.Stride),
				c: C.int32_t(t.C), h: C.int32_t(t.H), w: C.int32_t(t.W),
			}
			if t.Conv {
				ct.conv = 1
			}
			ts = append(ts, ct)
		}
	}
	if len(ts) == 0 {
		ts = append(ts, C.esw_term{}) // a valid pointer; nterm is 0
		ts = ts[:0:1]
	}
	sizes := make([]C.int32_t, len(s.Params)+1)
	flags := make([]C.int32_t, len(s.Params)+1)
	for i, p := range s.Params {
		sizes[i] = C.int32_t(p.Size)
		if p.Train {
			flags[i] |= C.ESW_TRAIN
		}
		if p.Decay {
			flags[i] |= C.ESW_DECAY
		}
	}
	var errbuf [512]C.char
	c := C.esw_create(&vs[0], C.int(len(vs)), unsafe.SliceData(ts[:cap(ts)]), C.int(len(ts)),
		&sizes[0], &flags[0], C.int(len(s.Params)),
		C.int(s.Out), C.int(s.FCWeight), C.int(s.FCBias), C.int(s.Classes),
		C.float(s.Momentum), C.float(s.WeightDecay), C.float(s.BNMomentum), C.float(s.BNEpsilon), C.int(s.Threads),
		&errbuf[0], C.int(len(errbuf)))
	if c == nil {
		return nil, errors.New(C.GoString(&errbuf[0]))
	}
	return &Net{c: c, params: append([]Param(nil), s.Params...)}, nil
}

// Close frees the network.
func (n *Net) Close() {
	if n.c != nil {
		C.esw_destroy(n.c)
		n.c = nil
	}
}

func (n *Net) err() error { return errors.New(C.GoString(C.esw_error(n.c))) }

// Param returns parameter i's storage on the C heap, in the plain layout
// (what Weights holds): write it to set the parameter, read it after
// training. It stays valid until Close.
func (n *Net) Param(i int) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(C.esw_param(n.c, C.int(i)))), n.params[i].Size)
}

func b2i(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Batch returns the input (batch x C x H x W, NCHW) and label buffers of
// the training pass (train) or the inference pass of a batch size, building
// the pass on first use. Write a batch into them, then Step or Forward.
func (n *Net) Batch(batch, size int, train bool) ([]float32, []int32, error) {
	x := C.esw_input(n.c, C.int(batch), b2i(train))
	if x == nil {
		return nil, nil, n.err()
	}
	l := C.esw_labels(n.c, C.int(batch), b2i(train))
	return unsafe.Slice((*float32)(unsafe.Pointer(x)), batch*size), unsafe.Slice((*int32)(unsafe.Pointer(l)), batch), nil
}

// Step runs one training step (forward, loss, backward, SGD at rate lr)
// on the training pass's batch, and returns the loss. A loss that is not
// finite is returned without an update.
func (n *Net) Step(batch int, lr float32) (float64, error) {
	var loss C.double
	if C.esw_step(n.c, C.int(batch), C.float(lr), &loss) != 0 {
		return 0, n.err()
	}
	return float64(loss), nil
}

// Forward runs the inference pass of a batch size on its input and returns
// its logits (batch x classes), valid until the next call.
func (n *Net) Forward(batch, classes int) ([]float32, error) {
	if C.esw_forward(n.c, C.int(batch)) != 0 {
		return nil, n.err()
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(C.esw_logits(n.c, C.int(batch), 0))), batch*classes), nil
}

// LaneInput returns the input buffer of inference lane `lane` of `lanes`
// (see Lanes in package train's oneDNN engine), building its pass on first
// use. Call it for every lane from one goroutine before running lanes
// concurrently: building is not safe to run concurrently, running distinct
// lanes (LaneForward) is.
func (n *Net) LaneInput(batch, size, lane, lanes int) ([]float32, error) {
	x := C.esw_lane_input(n.c, C.int(batch), C.int(lane), C.int(lanes))
	if x == nil {
		return nil, n.err()
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(x)), batch*size), nil
}

// LaneForward runs inference lane `lane` of `lanes` on its input and
// returns its logits, valid until that lane's next call.
func (n *Net) LaneForward(batch, classes, lane, lanes int) ([]float32, error) {
	if C.esw_lane_forward(n.c, C.int(batch), C.int(lane), C.int(lanes)) != 0 {
		return nil, n.err()
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(C.esw_lane_logits(n.c, C.int(batch), C.int(lane), C.int(lanes)))), batch*classes), nil
}

// Release frees the memory of the training passes (train) or of the
// inference passes; the next Batch, Step or Forward builds them again. The
// parameters and the optimiser's state stay. Input and label slices taken
// before are invalid after it.
func (n *Net) Release(train bool) { C.esw_release(n.c, b2i(train)) }

// ChannelsLast reports whether the network trains with its activations
// channels-last (NHWC) rather than in oneDNN's channel blocks: it does
// where blocks of 16 would add 40% or more to its convolutions'
// arithmetic (or as EVOSWARM_ONEDNN_LAYOUT=nhwc|blocked says).
func (n *Net) ChannelsLast() bool { return C.esw_channels_last(n.c) != 0 }

// Folded is how many BN-ReLU vertices the inference pass of a batch size
// runs folded into their one convolution (a bias and a ReLU post-op),
// building the pass if needed.
func (n *Net) Folded(batch int) (int, error) {
	k := int(C.esw_folded(n.c, C.int(batch)))
	if k < 0 {
		return 0, n.err()
	}
	return k, nil
}

// Impls lists the oneDNN implementations a pass runs (building it if
// needed), for diagnostics.
func (n *Net) Impls(batch int, train bool) (string, error) {
	var buf [2048]C.char
	if C.esw_impls(n.c, C.int(batch), b2i(train), &buf[0], C.int(len(buf))) != 0 {
		return "", n.err()
	}
	return C.GoString(&buf[0]), nil
}
