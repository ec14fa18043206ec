// Package device is the seam between the training engine and an
// accelerator. A Device owns memory and runs the engine's operations: one
// matrix product (Gemm) and a small set of element-wise kernels, each named
// after the CUDA kernel of the same name in train/cuda/kernels.cu.
//
// Activations live in CNHW order on a device ("channel-major across the
// batch"): a tensor of N images with C channels of H x W pixels is a C x
// (N*H*W) row-major matrix, so a convolution over the whole batch is one
// GEMM and a per-channel reduction is a matrix-vector product.
//
// Implementations: train/cuda (an NVIDIA GPU through gorgonia.org/cu,
// built with -tags gpu) and train/cuda/emu (the same CUDA C kernels
// compiled for the CPU, for tests). The gorgonia CPU engine in package train
// does not go through this interface.
package device

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Buf is a device buffer of 32-bit values (float32, or int32 for labels).
// Only the Device that allocated it may use it.
type Buf interface {
	// Len is the number of 32-bit values.
	Len() int
}

// ConvGeom is a convolution's geometry: N images of C x H x W, a KH x KW
// filter with Stride, padding PadH and PadW, and an OH x OW output.
type ConvGeom struct {
	N, C, H, W     int
	KH, KW, Stride int
	PadH, PadW     int
	OH, OW         int
}

// K is the length of one column of the im2col matrix: C*KH*KW.
func (g ConvGeom) K() int { return g.C * g.KH * g.KW }

// Device runs the training engine's operations. Launches are asynchronous
// and their failures sticky: a method that returns no error records the first
// failure, which Sync (and every later transfer to the host) returns.
//
// A Device is used by one goroutine at a time, between Begin and its end
// function.
type Device interface {
	// Name describes the device, e.g. "cuda:0 NVIDIA H100 80GB HBM3".
	Name() string
	// Begin binds the device to the calling goroutine (on CUDA: locks the
	// OS thread and makes the device's context current) until end is
	// called. Calls do not nest.
	Begin() (end func(), err error)

	// Alloc returns a zeroed buffer of n values.
	Alloc(n int) (Buf, error)
	// Free releases a buffer from Alloc; views need no freeing.
	Free(b Buf)
	// View is the n values of b from off on; it shares b's memory.
	View(b Buf, off, n int) Buf
	// MemInfo reports the free and total device memory in bytes.
	MemInfo() (free, total int64, err error)

	// Upload copies src into the first len(src) values of dst, Download
	// the first len(dst) values of src into dst. They wait for earlier
	// launches as needed and return the sticky error, if any, instead of
	// copying.
	Upload(dst Buf, src []float32) error
	UploadInt32(dst Buf, src []int32) error
	Download(dst []float32, src Buf) error
	// Copy copies src into dst (same length).
	Copy(dst, src Buf)
	// Sync waits for every launch and returns the first failure.
	Sync() error
	// Close releases the device's resources.
	Close() error

	// Gemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices:
	// op(A) is m x k, op(B) is k x n, C is m x n, with leading dimensions
	// lda, ldb, ldc (row strides of the stored matrices). With beta 0, C is
	// not read; with k 0, C = beta*C.
	Gemm(transA, transB bool, m, n, k int, alpha float32, a Buf, lda int, b Buf, ldb int, beta float32, c Buf, ldc int)

	Kernels
}

// Kernels are the element-wise kernels. In every one, "p" is the number of
// values per channel (N*H*W) and a channel's values are contiguous.
type Kernels interface {
	// Fill sets the n values of x to v.
	Fill(x Buf, n int, v float32)
	// Add computes y += x over n values.
	Add(y, x Buf, n int)
	// ToCNHW writes x (n images of c channels of hw values, NCHW) into y
	// in CNHW order.
	ToCNHW(x, y Buf, n, c, hw int)
	// Im2col writes images n0..n0+nb-1 of x (CNHW, g.N images) as the
	// columns of cols: row (ci*KH+ky)*KW+kx, column (n-n0)*OH*OW+oy*OW+ox,
	// leading dimension nb*OH*OW; padding reads as zero.
	Im2col(x, cols Buf, g ConvGeom, n0, nb int)
	// Col2im adds the columns of cols (laid out as Im2col's) back into the
	// images n0..n0+nb-1 of dx (CNHW, g.N images): dx += col2im(cols).
	Col2im(cols, dx Buf, g ConvGeom, n0, nb int)
	// BNCenterSq writes t = (x - sum[ch]/p)^2 for c channels of p values.
	BNCenterSq(x, sum, t Buf, c, p int)
	// BNFinalize turns per-channel sums of values and of squared deviations
	// over p values into mean and 1/sqrt(var+eps) (biased variance), and
	// moves the running mean and variance (unbiased variance) towards them
	// by momentum: run = (1-momentum)*run + momentum*batch.
	BNFinalize(sum, sq, mean, invStd, runMean, runVar Buf, c, p int, momentum, eps float32)
	// BNInferStats writes invStd = 1/sqrt(runVar+eps) for c channels.
	BNInferStats(runVar, invStd Buf, c int, eps float32)
	// BNReLU writes y = max(0, scale*(x-mean)*invStd + offset).
	BNReLU(x, mean, invStd, scale, offset, y Buf, c, p int)
	// BNBackwardPrep writes g1 = dy where y > 0 (else 0) and
	// g2 = g1*(x-mean)*invStd.
	BNBackwardPrep(dy, y, x, mean, invStd, g1, g2 Buf, c, p int)
	// BNBackwardData adds to dx the gradient through batch norm:
	// dx += scale*invStd/p * (p*g1 - dOffset - xhat*dScale), with
	// xhat = (x-mean)*invStd and dScale, dOffset the per-channel sums of
	// g2 and g1.
	BNBackwardData(g1, x, mean, invStd, scale, dScale, dOffset, dx Buf, c, p int)
	// Reconcile writes x (c1 channels of n images of h1 x w1, CNHW) resized
	// to c channels of h x w into y: nearest neighbour with source row
	// floor(i*h1/h) and column floor(j*w1/w), channels truncated or
	// zero-padded.
	Reconcile(x, y Buf, n, c1, h1, w1, c, h, w int)
	// ReconcileBackward adds Reconcile's gradient to dx: every source pixel
	// receives the sum of the gradients of the outputs that copied it.
	ReconcileBackward(dy, dx Buf, n, c1, h1, w1, c, h, w int)
	// GAPBackward adds dg[i]/hw to each of the hw values of row i of dx,
	// for rows rows (rows = c*n in CNHW).
	GAPBackward(dg, dx Buf, rows, hw int)
	// AddBias adds b[i] to each of the n values of row i of y, for rows
	// rows.
	AddBias(y, b Buf, rows, n int)
	// SoftmaxXent takes logits as k classes x n samples (row-major) and
	// int32 labels; it writes each sample's cross-entropy into loss (n
	// values) and dLogits = (softmax - onehot)/n.
	SoftmaxXent(logits, labels, loss, dLogits Buf, k, n int)
	// ChannelSum writes out[i] = alpha * (the sum of the p values of row
	// i of x) for c rows, accumulating in float64 (ev_chan_partial, then
	// ev_chan_finish): batch norm's sums run over a whole batch, where a
	// float32 sum loses digits that training then amplifies. part is
	// scratch of at least PartFloats(c, p) values.
	ChannelSum(x, part, out Buf, c, p int, alpha float32)
	// SGD applies one step of SGD with momentum and L2 weight decay added
	// to the gradient, as torch.optim.SGD: d = g + decay*w;
	// v = momentum*v + d; w -= lr*v.
	SGD(w, v, g Buf, n int, lr, momentum, decay float32)
}

// SumParts is the number of strided parts ChannelSum splits a row of p
// values into.
func SumParts(p int) int { return max(1, min(p, 1024)) }

// PartFloats is the scratch ChannelSum needs for c rows of p values, in
// 32-bit values (its parts are float64).
func PartFloats(c, p int) int { return 2 * c * SumParts(p) }

// A Spec names a device: "cpu", "cuda" (the first GPU), "cuda:N",
// "cuda:all", "auto", or "emu" (the CUDA kernels emulated on the CPU, in
// binaries built with -tags emu, for testing the GPU path without a GPU).
type Spec struct {
	Kind    string // "cpu", "cuda", "auto" or "emu"
	Ordinal int    // for cuda; -1 means every GPU (auto, or cuda:all)
}

// ParseSpec reads a --device value.
func ParseSpec(s string) (Spec, error) {
	switch s {
	case "", "cpu":
		return Spec{Kind: "cpu"}, nil
	case "auto":
		return Spec{Kind: "auto", Ordinal: -1}, nil
	case "cuda":
		return Spec{Kind: "cuda", Ordinal: 0}, nil
	case "cuda:all":
		return Spec{Kind: "cuda", Ordinal: -1}, nil
	case "emu":
		return Spec{Kind: "emu", Ordinal: 0}, nil
	}
	if rest, ok := strings.CutPrefix(s, "cuda:"); ok {
		n, err := strconv.Atoi(rest)
		if err == nil && n >= 0 {
			return Spec{Kind: "cuda", Ordinal: n}, nil
		}
	}
	return Spec{}, fmt.Errorf("device %q: want cpu, cuda, cuda:N, cuda:all, auto or emu", s)
}

func (s Spec) String() string {
	switch {
	case s.Kind == "cuda" && s.Ordinal >= 0:
		return fmt.Sprintf("cuda:%d", s.Ordinal)
	case s.Kind == "cuda":
		return "cuda:all"
	}
	return s.Kind
}

// A Backend opens devices of one kind. train/cuda registers "cuda" when
// the binary is built with -tags gpu.
type Backend interface {
	// Count reports how many devices there are; an error means the driver
	// or its libraries did not load.
	Count() (int, error)
	// Open opens device ordinal.
	Open(ordinal int) (Device, error)
}

var (
	mu       sync.Mutex
	backends = map[string]Backend{}
)

// Register makes a backend available under name.
func Register(name string, b Backend) {
	mu.Lock()
	defer mu.Unlock()
	backends[name] = b
}

// Registered lists the registered backends' names.
func Registered() []string {
	mu.Lock()
	defer mu.Unlock()
	var names []string
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrNotBuilt is returned for cuda in a binary built without -tags gpu.
var ErrNotBuilt = errors.New("this binary was built without CUDA support (build with -tags gpu; see README, GPU)")

// Open opens the devices s names. "cpu" opens none (nil, nil): the caller
// trains on the CPU. "auto" opens every GPU, or none when the driver or
// libraries do not load or there is no GPU; why is returned in note.
// "cuda" fails when CUDA is unavailable.
func Open(s Spec) (devs []Device, note string, err error) {
	if s.Kind == "cpu" {
		return nil, "", nil
	}
	name := "cuda"
	if s.Kind == "emu" {
		name = "emu"
	}
	mu.Lock()
	b := backends[name]
	mu.Unlock()
	if b == nil {
		switch {
		case s.Kind == "auto":
			return nil, "no GPU backend in this binary (built without -tags gpu); training on the CPU", nil
		case name == "emu":
			return nil, "", errors.New("this binary was built without the emulated device (build with -tags emu)")
		}
		return nil, "", ErrNotBuilt
	}
	count, err := b.Count()
	if err == nil && count == 0 {
		err = fmt.Errorf("no %s device found", name)
	}
	if err != nil {
		if s.Kind == "auto" {
			return nil, fmt.Sprintf("CUDA unavailable (%v); training on the CPU", err), nil
		}
		return nil, "", fmt.Errorf("device %s: %w", s, err)
	}
	ordinals := []int{s.Ordinal}
	if s.Ordinal < 0 {
		ordinals = ordinals[:0]
		for i := range count {
			ordinals = append(ordinals, i)
		}
	} else if s.Ordinal >= count {
		return nil, "", fmt.Errorf("device %s: there are %d CUDA devices", s, count)
	}
	for _, i := range ordinals {
		d, err := b.Open(i)
		if err != nil {
			for _, o := range devs {
				o.Close()
			}
			if s.Kind == "auto" {
				return nil, fmt.Sprintf("CUDA device %d did not open (%v); training on the CPU", i, err), nil
			}
			return nil, "", fmt.Errorf("device %s:%d: %w", name, i, err)
		}
		devs = append(devs, d)
	}
	return devs, "", nil
}
