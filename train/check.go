package train

import (
	"errors"
	"fmt"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// purpose is what a network is built for, which decides the memory
// estimate checked against the budget: a training network's
// (EstimateMemory) or a forward-only one's (EstimateInferenceMemory), so
// that an individual trained within the budget can always be evaluated,
// exported and re-measured.
type purpose int

const (
	forTraining purpose = iota
	forInference
)

// check validates the config, the genome against the bounds and the data,
// and the memory estimate for use against the budget, before anything is
// built.
func check(g *dna.Genome, data *dataset.Set, cfg *Config, use purpose) (*dna.Resolved, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := g.Validate(cfg.Bounds); err != nil {
		return nil, err
	}
	if in := g.Input; in.H != data.H || in.W != data.W || in.C != data.C || g.Classes != data.Classes {
		return nil, fmt.Errorf("train: %w: genome expects %v images and %d classes, data set %s has %dx%dx%d and %d", ErrDataMismatch, in, g.Classes, data.Name, data.H, data.W, data.C, data.Classes)
	}
	if use == forTraining {
		if data.Train.N < cfg.BatchSize {
			return nil, fmt.Errorf("train: training split has %d images, fewer than a batch of %d", data.Train.N, cfg.BatchSize)
		}
		if data.Val == nil || data.Val.N == 0 {
			// Every individual's fitness would be 0 without a word.
			return nil, fmt.Errorf("train: data set %s has no validation images to measure fitness on", data.Name)
		}
	}
	return resolveWithin(g, cfg, use)
}

// CheckEvaluable reports, before any weights exist, whether Evaluate
// could run g on data within cfg: the bounds, the data set's shape
// (ErrDataMismatch) and the inference memory estimate (ErrMemoryBudget).
// A node asks it of an immigrant before fetching its weights.
func CheckEvaluable(g *dna.Genome, data *dataset.Set, cfg Config) error {
	_, err := check(g, data, &cfg, forInference)
	return err
}

// resolveWithin validates the config and the genome against the bounds,
// resolves its shapes and checks its memory estimate against the budget,
// before anything is allocated.
func resolveWithin(g *dna.Genome, cfg *Config, use purpose) (*dna.Resolved, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := g.Validate(cfg.Bounds); err != nil {
		return nil, err
	}
	r, err := g.Resolve()
	if err != nil {
		return nil, err
	}
	estimate := EstimateMemory
	if use == forInference {
		estimate = EstimateInferenceMemory
	}
	if need := estimate(g, r, cfg); need > cfg.MemoryBudget {
		return nil, fmt.Errorf("%w: about %d MiB, the budget is %d MiB", ErrMemoryBudget, need>>20, cfg.MemoryBudget>>20)
	}
	return r, nil
}

// ErrMemoryBudget is returned when a genome's estimated memory exceeds the
// configured budget.
var ErrMemoryBudget = errors.New("train: network exceeds the memory budget")

// ErrDataMismatch is wrapped when a genome's input shape or class count is
// not the data set's.
var ErrDataMismatch = errors.New("genome does not fit the data set")

// ErrWeightsMismatch is wrapped when weights given for a genome's every
// tensor (to evaluate or predict) lack one, or hold it in another shape.
var ErrWeightsMismatch = errors.New("weights do not fit the genome")
