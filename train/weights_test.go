package train

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"testing"
)

func sampleWeights() *Weights {
	return &Weights{Tensors: map[string]*Tensor{
		"conv/5":        {Shape: []int{2, 1, 3, 3}, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -2, -3, -4, -5, -6, -7, -8, -9}},
		"fc/3/bias":     {Shape: []int{2}, Data: []float32{0.5, -0.5}},
		"bn/7/mean":     {Shape: []int{1}, Data: []float32{0.25}},
		"fc/3/weight":   {Shape: []int{2, 1}, Data: []float32{3, 4}},
		"bn/7/scale":    {Shape: []int{1}, Data: []float32{1}},
		"bn/7/offset":   {Shape: []int{1}, Data: []float32{0}},
		"bn/7/var":      {Shape: []int{1}, Data: []float32{1}},
		"conv/11":       {Shape: []int{1, 2, 1, 1}, Data: []float32{0.1, 0.2}},
		"fc/3/weight_2": {Shape: []int{1}, Data: []float32{7}},
	}}
}

func TestWeightsRoundTrip(t *testing.T) {
	w := sampleWeights()
	b, err := w.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.MarshalBinary()
	if err != nil || !bytes.Equal(b, again) {
		t.Fatal("encoding is not deterministic")
	}
	d, err := DecodeWeights(b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := d.MarshalBinary()
	if !bytes.Equal(b, b2) {
		t.Fatal("decode then encode changed the bytes")
	}
	if d.Params() != w.Params() {
		t.Errorf("params %d, want %d", d.Params(), w.Params())
	}
}

func TestDecodeWeightsRefuses(t *testing.T) {
	good, _ := sampleWeights().MarshalBinary()
	flip := bytes.Clone(good)
	flip[20] ^= 1
	cases := map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-1],
		"bit flip":  flip,
		"oversized": good,
	}
	// More tensors than any genome has: refused before anything is sized
	// from the count.
	many := &Weights{Tensors: map[string]*Tensor{}}
	for i := range maxTensors + 1 {
		many.Tensors[fmt.Sprintf("t%06d", i)] = &Tensor{Shape: []int{1}, Data: []float32{0}}
	}
	cases["too many tensors"], _ = many.MarshalBinary()
	for name, data := range cases {
		limit := 1 << 20
		if name == "oversized" {
			limit = len(good) - 1
		}
		if _, err := DecodeWeights(data, limit); !errors.Is(err, ErrCorruptWeights) {
			t.Errorf("%s: err %v, want ErrCorruptWeights", name, err)
		}
	}
}

// FuzzDecodeWeights fuzzes the weights format. With seal set, the input
// is taken as the body and its SHA-256 appended, so that the fuzzer gets
// past the checksum into the parser; without, it is decoded as is. Errors
// wrap ErrCorruptWeights; decoded weights encode back to exactly the bytes
// decoded (the format is canonical), their digest is the trailing SHA-256,
// their value count is Params, and a limit below the input's size refuses
// it.
func FuzzDecodeWeights(f *testing.F) {
	good, _ := sampleWeights().MarshalBinary()
	empty, _ := (&Weights{Tensors: map[string]*Tensor{}}).MarshalBinary()
	scalar, _ := (&Weights{Tensors: map[string]*Tensor{"s": {Shape: []int{}, Data: []float32{float32(math.NaN())}}}}).MarshalBinary()
	rank4, _ := (&Weights{Tensors: map[string]*Tensor{"conv/1": {Shape: []int{1, 2, 1, 2}, Data: []float32{1, -2, float32(math.Inf(1)), 0}}}}).MarshalBinary()
	body := func(b []byte) []byte { return b[:len(b)-32] }
	for _, b := range [][]byte{good, empty, scalar, rank4} {
		f.Add(b, false)
		f.Add(body(b), true)
	}
	flip := bytes.Clone(good)
	flip[12] ^= 1
	f.Add(flip, false)
	f.Add(good[:len(good)-1], false)
	f.Add([]byte("EVWT\x01\x00\x00\x00\x00"), false)
	f.Add([]byte("EVWT\x01\x01\x00\x00\x00\x01\x00k\x05"), true)              // rank above the maximum
	f.Add([]byte("EVWT\x01\x02\x00\x00\x00\x01\x00b\x00\x01\x00a\x00"), true) // keys out of order
	f.Fuzz(func(t *testing.T, data []byte, seal bool) {
		if seal {
			sum := sha256.Sum256(data)
			data = append(bytes.Clone(data), sum[:]...)
		}
		w, err := DecodeWeights(data, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrCorruptWeights) {
				t.Fatalf("error %v does not wrap ErrCorruptWeights", err)
			}
			return
		}
		again, err := w.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded weights do not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("decode then encode changed the bytes:\n got %x\nwant %x", again, data)
		}
		d, err := Digest(data)
		if err != nil || !bytes.Equal(d[:], data[len(data)-32:]) {
			t.Fatalf("digest %x, %v", d, err)
		}
		var n int64
		for _, k := range w.Keys() {
			n += int64(w.Tensors[k].Size())
		}
		if n != w.Params() {
			t.Fatalf("params %d, the shapes hold %d", w.Params(), n)
		}
		if _, err := DecodeWeights(data, len(data)-1); !errors.Is(err, ErrCorruptWeights) {
			t.Fatalf("a limit below the size was not enforced: %v", err)
		}
	})
}

// TestArgmaxIgnoresNaN: a NaN logit neither wins nor makes the first class
// win by default.
func TestArgmaxIgnoresNaN(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		row  []float32
		want int
	}{
		{[]float32{1, 3, 2}, 1},
		{[]float32{nan, 3, 2}, 1},
		{[]float32{1, nan, 2}, 2},
		{[]float32{nan, nan, nan}, 0},
		{[]float32{-5, -1, -3}, 1},
	} {
		if got := argmax(c.row); got != c.want {
			t.Errorf("argmax(%v) = %d, want %d", c.row, got, c.want)
		}
	}
}
