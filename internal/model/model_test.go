package model

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train"
)

// TestLoadRefusesDamagedWeights checks the read path of eval and predict:
// Load checks weights.evwt against its checksum, so a model whose weights
// were damaged after export (a flipped byte, a cut file) is refused rather
// than evaluated.
func TestLoadRefusesDamagedWeights(t *testing.T) {
	g := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	// Load decodes the weights; they need not fit the genome for that.
	w := &train.Weights{Tensors: map[string]*train.Tensor{
		"fc/1/weight": {Shape: []int{10, 1}, Data: make([]float32, 10)},
		"fc/1/bias":   {Shape: []int{10}, Data: make([]float32, 10)},
	}}
	wb, err := w.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := Save(dir, g, wb, Metrics{Mean: []float32{0.3}, Std: []float32{0.3}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatalf("Load of an intact model: %v", err)
	}
	path := filepath.Join(dir, WeightsFile)
	for name, damage := range map[string]func([]byte) []byte{
		"a byte flipped in the values":   func(b []byte) []byte { b[len(b)/2] ^= 0x01; return b },
		"a byte flipped in the checksum": func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b },
		"cut short":                      func(b []byte) []byte { return b[:len(b)-100] },
		"emptied":                        func([]byte) []byte { return nil },
	} {
		b := append([]byte(nil), wb...)
		if err := os.WriteFile(path, damage(b), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); !errors.Is(err, train.ErrCorruptWeights) {
			t.Errorf("%s: Load returned %v, want train.ErrCorruptWeights", name, err)
		}
	}
}
