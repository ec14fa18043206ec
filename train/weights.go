package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Tensor is one named weight tensor: its shape and float32 values.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Size returns the number of values the shape holds.
func (t *Tensor) Size() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Weights are a trained network's tensors, keyed by weight ID and role:
//
//	conv/<id>                   kernel (Cout, Cin, KH, KW)
//	bn/<id>/scale, bn/<id>/offset, bn/<id>/mean, bn/<id>/var   (C)
//	fc/<id>/weight (classes, C), fc/<id>/bias (classes)
//
// They are not part of the genome; the IDs in the keys match them to it.
type Weights struct {
	Tensors map[string]*Tensor
}

// Keys returns the tensor keys, sorted.
func (w *Weights) Keys() []string {
	keys := make([]string, 0, len(w.Tensors))
	for k := range w.Tensors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Params returns the number of values over all tensors.
func (w *Weights) Params() int64 {
	var n int64
	for _, t := range w.Tensors {
		n += int64(len(t.Data))
	}
	return n
}

// Weights file format, version 1, little-endian:
//
//	magic "EVWT", version u8, tensor count u32
//	per tensor, in key order: key length u16, key, rank u8, dims u32 each,
//	    values float32 each
//	SHA-256 of everything before it (32 bytes)
//
// The trailing SHA-256 is also the weights' digest, which migrants carry.
const (
	weightsMagic   = "EVWT"
	weightsVersion = 1
	maxRank        = 4
	maxKeyLen      = 256
	// maxTensors bounds a decoding's tensor count: a genome within any
	// bounds has far fewer (four per batch-norm vertex, one per
	// convolution, two for the classifier), and millions of tiny tensors
	// in a peer's blob would cost hundreds of MB to decode.
	maxTensors = 1 << 16
)

// ErrCorruptWeights is wrapped by every weights decoding error.
var ErrCorruptWeights = errors.New("corrupt weights")

// MarshalBinary encodes the weights deterministically.
func (w *Weights) MarshalBinary() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(weightsMagic)
	buf.WriteByte(weightsVersion)
	le := binary.LittleEndian
	buf.Write(le.AppendUint32(nil, uint32(len(w.Tensors))))
	for _, k := range w.Keys() {
		t := w.Tensors[k]
		if len(k) > maxKeyLen || len(t.Shape) > maxRank || t.Size() != len(t.Data) {
			return nil, fmt.Errorf("train: weights: tensor %q has shape %v and %d values", k, t.Shape, len(t.Data))
		}
		buf.Write(le.AppendUint16(nil, uint16(len(k))))
		buf.WriteString(k)
		buf.WriteByte(byte(len(t.Shape)))
		for _, d := range t.Shape {
			buf.Write(le.AppendUint32(nil, uint32(d)))
		}
		data := make([]byte, 4*len(t.Data))
		for i, v := range t.Data {
			le.PutUint32(data[4*i:], math.Float32bits(v))
		}
		buf.Write(data)
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	return buf.Bytes(), nil
}

// Digest returns the SHA-256 that ends an encoding: the weights' identity.
func Digest(encoded []byte) ([32]byte, error) {
	var d [32]byte
	if len(encoded) < 32 {
		return d, fmt.Errorf("train: weights: %w: %d bytes", ErrCorruptWeights, len(encoded))
	}
	copy(d[:], encoded[len(encoded)-32:])
	return d, nil
}

// DecodeWeights decodes an encoding, refusing more than maxBytes, a bad
// checksum, truncation or any malformed field; it never panics.
func DecodeWeights(data []byte, maxBytes int) (*Weights, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("train: weights: %w: %s", ErrCorruptWeights, fmt.Sprintf(format, args...))
	}
	if len(data) > maxBytes {
		return nil, bad("%d bytes, the limit is %d", len(data), maxBytes)
	}
	if len(data) < len(weightsMagic)+1+4+32 {
		return nil, bad("%d bytes is too short", len(data))
	}
	body, sum := data[:len(data)-32], data[len(data)-32:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, bad("checksum mismatch")
	}
	if string(body[:4]) != weightsMagic {
		return nil, bad("bad magic %q", body[:4])
	}
	if body[4] != weightsVersion {
		return nil, bad("format version %d, this build reads %d", body[4], weightsVersion)
	}
	le := binary.LittleEndian
	n := int(le.Uint32(body[5:]))
	p := body[9:]
	if n > len(p)/8 {
		return nil, bad("%d tensors do not fit in %d bytes", n, len(p))
	}
	if n > maxTensors {
		return nil, bad("%d tensors, the limit is %d", n, maxTensors)
	}
	// Not sized from n beyond a little: n is the sender's word.
	w := &Weights{Tensors: make(map[string]*Tensor, min(n, 256))}
	prev := ""
	for i := range n {
		if len(p) < 2 {
			return nil, bad("truncated in tensor %d", i)
		}
		kl := int(le.Uint16(p))
		p = p[2:]
		if kl == 0 || kl > maxKeyLen || len(p) < kl+1 {
			return nil, bad("tensor %d: bad key length %d", i, kl)
		}
		key := string(p[:kl])
		if key <= prev {
			return nil, bad("tensor %q is out of order or repeated", key)
		}
		prev = key
		rank := int(p[kl])
		p = p[kl+1:]
		if rank > maxRank || len(p) < 4*rank {
			return nil, bad("tensor %q: bad rank %d", key, rank)
		}
		shape := make([]int, rank)
		size := 1
		for d := range shape {
			shape[d] = int(le.Uint32(p[4*d:]))
			if shape[d] == 0 || shape[d] > len(p) {
				return nil, bad("tensor %q: bad dimension %d", key, shape[d])
			}
			size *= shape[d]
			if size > len(p) {
				return nil, bad("tensor %q: shape %v does not fit in %d bytes", key, shape[:d+1], len(p))
			}
		}
		p = p[4*rank:]
		if len(p) < 4*size {
			return nil, bad("tensor %q: truncated values", key)
		}
		t := &Tensor{Shape: shape, Data: make([]float32, size)}
		for j := range t.Data {
			t.Data[j] = math.Float32frombits(le.Uint32(p[4*j:]))
		}
		p = p[4*size:]
		w.Tensors[key] = t
	}
	if len(p) != 0 {
		return nil, bad("%d trailing bytes", len(p))
	}
	return w, nil
}

// finite reports whether every tensor holds finite values.
func (w *Weights) finite() bool {
	for _, t := range w.Tensors {
		if !t.finite() {
			return false
		}
	}
	return true
}

// finite reports whether the tensor holds finite values only.
func (t *Tensor) finite() bool {
	for _, v := range t.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}

// errNotFinite is what evaluating or predicting with weights that hold a
// NaN or an infinity returns: they measure nothing (an immigrant's such
// weights are its sender's fault).
// usable refuses weights an inference cannot run on: none at all, or
// non-finite ones.
func usable(w *Weights) error {
	if w == nil {
		return fmt.Errorf("train: %w: no weights given", ErrWeightsMismatch)
	}
	if !w.finite() {
		return errNotFinite
	}
	return nil
}

var errNotFinite = fmt.Errorf("train: weights: %w: they hold NaN or infinite values", ErrCorruptWeights)
