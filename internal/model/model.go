// Package model is the on-disk form of a trained classifier that evoswarm
// exports: a directory holding the genome (genome.json), its weights
// (weights.evwt), and metrics.json with what the model needs to be used
// (the data set's identity, normalisation and class names) and the
// evidence for it (validation and test accuracy, parameters, FLOPs,
// lineage). export writes it; eval and predict read it.
package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train"
)

// Files in a model directory.
const (
	GenomeFile  = "genome.json"
	WeightsFile = "weights.evwt"
	MetricsFile = "metrics.json"
	ONNXFile    = "model.onnx"
)

// Step is one step of a lineage.
type Step struct {
	ID          string  `json:"id"`
	Mutation    string  `json:"mutation"`
	ValAccuracy float64 `json:"val_accuracy"`
}

// Metrics describes a model: the data it was evolved on and its evidence.
type Metrics struct {
	ID           string    `json:"id"`
	Data         string    `json:"data"`
	DataIdentity string    `json:"data_identity"`
	Mean         []float32 `json:"mean"`
	Std          []float32 `json:"std"`
	ClassNames   []string  `json:"class_names,omitempty"`
	ValAccuracy  float64   `json:"val_accuracy"`
	TestAccuracy float64   `json:"test_accuracy"`
	Params       int64     `json:"params"`
	FLOPs        int64     `json:"flops_per_image"`
	BNEpsilon    float64   `json:"bn_epsilon"`
	Lineage      []Step    `json:"lineage"`
}

// Model is a loaded model directory.
type Model struct {
	Dir     string
	Genome  *dna.Genome
	Weights *train.Weights
	Metrics Metrics
}

// Save writes m's genome, weights and metrics into dir, creating it.
func Save(dir string, g *dna.Genome, weights []byte, m Metrics) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gj, err := g.MarshalJSON()
	if err != nil {
		return err
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{GenomeFile: gj, WeightsFile: weights, MetricsFile: append(mj, '\n')} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Load reads a model directory, checking that the weights fit the genome's
// bounds on size and decode.
func Load(dir string) (*Model, error) {
	f, err := os.Open(filepath.Join(dir, GenomeFile))
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	g, err := dna.DecodeJSON(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", filepath.Join(dir, GenomeFile), err)
	}
	wb, err := os.ReadFile(filepath.Join(dir, WeightsFile))
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	w, err := train.DecodeWeights(wb, 1<<31-1)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", filepath.Join(dir, WeightsFile), err)
	}
	mb, err := os.ReadFile(filepath.Join(dir, MetricsFile))
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	m := &Model{Dir: dir, Genome: g, Weights: w}
	if err := json.Unmarshal(mb, &m.Metrics); err != nil {
		return nil, fmt.Errorf("model: %s: %w", filepath.Join(dir, MetricsFile), err)
	}
	if len(m.Metrics.Mean) != g.Input.C || len(m.Metrics.Std) != g.Input.C {
		return nil, fmt.Errorf("model: %s: %d means and %d standard deviations for %d channels", filepath.Join(dir, MetricsFile), len(m.Metrics.Mean), len(m.Metrics.Std), g.Input.C)
	}
	return m, nil
}

// ClassNames returns the class names the data set is known by, or nil.
func ClassNames(data string, classes int) []string {
	switch {
	case data == "fashion-mnist" && classes == 10:
		return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
	case data == "mnist" && classes == 10:
		return []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	case data == "cifar10" && classes == 10:
		return []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
	}
	return nil
}
