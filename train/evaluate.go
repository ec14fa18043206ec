package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/evoswarm/evoswarm/train/device"
)

// Evaluate measures the accuracy of g with the given weights on a split,
// with a forward-only graph.
func Evaluate(ctx context.Context, g *dna.Genome, w *Weights, data *dataset.Set, split *dataset.Split, cfg Config) (acc float64, err error) {
	defer func() {
		if p := recover(); p != nil {
			acc, err = 0, fmt.Errorf("train: genome %s: internal error: %v", g.ID().Short(), p)
		}
	}()
	runtime.LockOSThread() // see Train
	defer runtime.UnlockOSThread()
	r, err := check(g, data, &cfg, forInference)
	if err != nil {
		return 0, err
	}
	if err := usable(w); err != nil {
		return 0, err
	}
	eng, err := openEngine(g, r, w, &cfg)
	if err != nil {
		return 0, err
	}
	defer eng.close()
	return eng.accuracy(ctx, data, split, min(cfg.EvalBatch, max(split.N, 1)))
}

// Predict returns the class g with weights w predicts for every image of a
// split, with a forward-only graph.
func Predict(ctx context.Context, g *dna.Genome, w *Weights, data *dataset.Set, split *dataset.Split, cfg Config) (pred []int32, err error) {
	defer func() {
		if p := recover(); p != nil {
			pred, err = nil, fmt.Errorf("train: genome %s: internal error: %v", g.ID().Short(), p)
		}
	}()
	runtime.LockOSThread() // see Train
	defer runtime.UnlockOSThread()
	r, err := check(g, data, &cfg, forInference)
	if err != nil {
		return nil, err
	}
	if err := usable(w); err != nil {
		return nil, err
	}
	eng, err := openEngine(g, r, w, &cfg)
	if err != nil {
		return nil, err
	}
	defer eng.close()
	return eng.predict(ctx, data, split, min(cfg.EvalBatch, max(split.N, 1)))
}

// EvaluateOn is Evaluate on a device: the accuracy of g with weights w on a
// split, in inference mode.
func EvaluateOn(ctx context.Context, g *dna.Genome, w *Weights, data *dataset.Set, split *dataset.Split, cfg Config, dev device.Device) (acc float64, err error) {
	defer func() {
		if p := recover(); p != nil {
			acc, err = 0, fmt.Errorf("train: genome %s: internal error: %v", g.ID().Short(), p)
		}
	}()
	r, err := check(g, data, &cfg, forInference)
	if err != nil {
		return 0, err
	}
	if err := usable(w); err != nil {
		return 0, err
	}
	end, err := dev.Begin()
	if err != nil {
		return 0, fmt.Errorf("train: %s: %w", dev.Name(), err)
	}
	defer end()
	net, err := openDeviceNetwork(g, r, w, &cfg, dev)
	if err != nil {
		return 0, err
	}
	defer net.Close()
	return net.accuracy(ctx, data, split, min(cfg.EvalBatch, max(split.N, 1)))
}

// openEngine builds the host engine for g with every tensor taken from w,
// for evaluation and prediction; it fails if w lacks a tensor.
func openEngine(g *dna.Genome, r *dna.Resolved, w *Weights, cfg *Config) (engine, error) {
	eng, err := newHostEngine(EngineAuto, g, r, w, cfg, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, err
	}
	if err := eng.inheritance().fits(g); err != nil {
		eng.close()
		return nil, err
	}
	return eng, nil
}

// accuracyOf is the fraction of a split's labels that pred gets right.
func accuracyOf(pred []int32, split *dataset.Split) float64 {
	correct := 0
	for i, p := range pred {
		if p == int32(split.Labels[i]) {
			correct++
		}
	}
	return float64(correct) / float64(split.N)
}

// argmax is the index of row's largest value, NaN values ignored (a NaN
// first value no longer wins every comparison by losing them all); 0 if
// every value is NaN.
func argmax(row []float32) int {
	best := -1
	for j, v := range row {
		if v == v && (best < 0 || v > row[best]) {
			best = j
		}
	}
	return max(best, 0)
}
