package train

import (
	"bytes"
	"errors"
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

func FuzzDecodeWeights(f *testing.F) {
	good, _ := sampleWeights().MarshalBinary()
	f.Add(good)
	f.Add([]byte("EVWT\x01\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := DecodeWeights(data, 1<<20)
		if err != nil {
			return
		}
		if _, err := w.MarshalBinary(); err != nil {
			t.Fatalf("decoded weights do not encode: %v", err)
		}
	})
}
