//go:build cgo

package train

import (
	"context"
	"testing"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/cuda/emu"
)

// TestPartialInheritanceOnDevice: the device engine builds a partially
// inheriting child from the same layout as the CPU engines (the counts
// agree), and a child that only grows scores, untrained, what its parent
// scores on the device.
func TestPartialInheritanceOnDevice(t *testing.T) {
	data := quadrants(t, 200)
	parent := inheritNet(t)
	pres, err := Train(context.Background(), parent, nil, data, smallConfig(30), RunOptions{Seed: 22})
	if err != nil {
		t.Fatal(err)
	}
	o := dna.DefaultMutateOptions()
	o.Bounds.MaxChannels = 32
	child := mutant(t, parent, dna.AlterNumberOfChannels, o, func(c *dna.Genome) bool {
		_, a, b := convChange(parent, c)
		return b > a
	})
	dev := emu.New()
	defer dev.Close()
	cfg := partialConfig()
	// The parent on the device, from its own weights.
	same, err := Train(context.Background(), parent, pres.Weights, data, smallConfig(0), RunOptions{Seed: 1, Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	onDev, err := Train(context.Background(), child, pres.Weights, data, cfg, RunOptions{Seed: 1, Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	onCPU, err := Train(context.Background(), child, pres.Weights, data, cfg, RunOptions{Seed: 1, Engine: EngineGorgonia})
	if err != nil {
		t.Fatal(err)
	}
	if onDev.Inheritance != onCPU.Inheritance || onDev.SlicedTensors == 0 {
		t.Errorf("device %+v, CPU %+v: want the same, with sliced tensors", onDev.Inheritance, onCPU.Inheritance)
	}
	if onDev.ValAccuracy != same.ValAccuracy {
		t.Errorf("grown child on the device: val %v before training, its parent %v", onDev.ValAccuracy, same.ValAccuracy)
	}
	if n := dev.Allocated(); n != 0 {
		t.Errorf("%d bytes still allocated on the device", n)
	}
}
