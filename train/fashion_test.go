package train

import (
	"context"
	"errors"
	"testing"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// fashion loads Debian's Fashion-MNIST, or skips when it is not installed
// (scripts/deps.sh installs it; CI always has it).
func fashion(t *testing.T) *dataset.Set {
	t.Helper()
	data, err := dataset.Load("fashion-mnist", dataset.DefaultOptions())
	if errors.Is(err, dataset.ErrNotFound) {
		t.Skipf("Fashion-MNIST is not installed: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestFashionMNIST is the engine's check on real data: the paper's initial
// individual trained for one epoch scores about 20% (15-30%), and the
// reference CNN climbs well past it within 200 steps (scripts/check-fashion.sh
// runs the full 1,000-step check, >= 80%).
func TestFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on Fashion-MNIST for about 30 s")
	}
	data := fashion(t)
	cfg := DefaultConfig()
	cfg.Steps = data.Train.N / cfg.BatchSize
	initial := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, dna.PaperLearningRate)
	res, err := Train(context.Background(), initial, nil, data, cfg, RunOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("initial individual, one epoch (%d steps): val %.4f", res.Steps, res.ValAccuracy)
	if res.ValAccuracy < 0.15 || res.ValAccuracy > 0.30 {
		t.Errorf("initial individual after one epoch: val %.4f, want 0.15-0.30", res.ValAccuracy)
	}
	cfg.Steps = 200
	res, err = Train(context.Background(), ReferenceCNN(), nil, data, cfg, RunOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reference CNN, 200 steps: val %.4f, %.0f images/s", res.ValAccuracy, res.ImagesPerSecond)
	if res.ValAccuracy < 0.65 {
		t.Errorf("reference CNN after 200 steps: val %.4f, want >= 0.65", res.ValAccuracy)
	}
}
