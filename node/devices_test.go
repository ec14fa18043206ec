//go:build cgo

package node

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train"
	"github.com/evoswarm/evoswarm/train/cuda/emu"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/evoswarm/evoswarm/train/device"
)

// watched is a device that counts the trainings running on it at once.
type watched struct {
	device.Device
	busy, most, used atomic.Int32
}

func (w *watched) Begin() (func(), error) {
	end, err := w.Device.Begin()
	if err != nil {
		return end, err
	}
	n := w.busy.Add(1)
	w.used.Add(1)
	for {
		m := w.most.Load()
		if n <= m || w.most.CompareAndSwap(m, n) {
			break
		}
	}
	return func() { w.busy.Add(-1); end() }, nil
}

// TestTrainerOneWorkerPerDevice: with two devices, concurrent trainings
// each take a device of their own, both devices are used, none runs two
// trainings at once, and a fifth waits for a free one rather than failing.
func TestTrainerOneWorkerPerDevice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	split := func(n int) *dataset.Split {
		sp := &dataset.Split{N: n, Pixels: make([]uint8, n*64), Labels: make([]uint8, n)}
		for i := range sp.Pixels {
			sp.Pixels[i] = uint8(rng.IntN(256))
		}
		for i := range sp.Labels {
			sp.Labels[i] = uint8(rng.IntN(3))
		}
		return sp
	}
	data := &dataset.Set{Name: "noise", Format: "idx", H: 8, W: 8, C: 1, Classes: 3,
		Train: split(64), Val: split(32), Test: split(32), Mean: []float32{0.5}, Std: []float32{0.3}, Identity: "noise"}
	cfg := train.DefaultConfig()
	cfg.Steps, cfg.BatchSize, cfg.EvalBatch = 20, 8, 16
	devs := []*watched{{Device: emu.New()}, {Device: emu.New()}}
	tr := newTrainer(data, cfg, []device.Device{devs[0], devs[1]})
	g := train.ReferenceCNNFor(dna.Shape{H: 8, W: 8, C: 1}, 3)
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := tr.Train(context.Background(), g, nil, uint64(i))
			if err == nil && out.Fitness <= 0 {
				t.Errorf("training %d: fitness %v", i, out.Fitness)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range devs {
		if d.used.Load() == 0 || d.most.Load() != 1 {
			t.Errorf("device %d: %d trainings, at most %d at once; want some, one at a time", i, d.used.Load(), d.most.Load())
		}
	}
	if n := devs[0].used.Load() + devs[1].used.Load(); n != 5 {
		t.Errorf("%d trainings on the devices, want 5", n)
	}
}
