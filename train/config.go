package train

import (
	"fmt"
	"math"
	"runtime"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Config holds the training settings of an experiment. The defaults are the
// paper's: SGD with momentum 0.9, batch 50, weight decay 1e-4, batch-norm
// decay 0.9.
type Config struct {
	// Steps is the number of SGD steps each child trains for (the paper:
	// 25,600; a CPU swarm uses hundreds to a few thousand).
	Steps int `json:"steps"`
	// BatchSize is the training batch size. Default 50.
	BatchSize int `json:"batch_size"`
	// Momentum is SGD's momentum. Default 0.9.
	Momentum float64 `json:"momentum"`
	// WeightDecay is the L2 coefficient on conv and fully connected weights
	// (not on batch-norm parameters or biases), applied in the update as
	// PyTorch's SGD does: g + decay*w. Default 1e-4.
	WeightDecay float64 `json:"weight_decay"`
	// BNMomentum weights the new batch in batch norm's running statistics.
	// Default 0.1, the paper's decay of 0.9.
	BNMomentum float64 `json:"bn_momentum"`
	// BNEpsilon is added to the variance. Default 1e-3.
	BNEpsilon float64 `json:"bn_epsilon"`
	// EvalBatch is the batch size of the forward-only evaluation graph.
	// Default 100: larger batches only add memory (every activation of the
	// batch is held at once) and lose cache locality.
	EvalBatch int `json:"eval_batch"`
	// MemoryBudget is the most memory, in bytes, that building and training
	// one network may take, by EstimateMemory. Default 4 GiB.
	MemoryBudget int64 `json:"memory_budget"`
	// Inheritance is how a child takes its parent's weights: InheritExact
	// ("" too), the paper's rule, or InheritPartial. It is the experiment's
	// "inheritance", set beside Bounds, not part of "train".
	Inheritance string `json:"-"`
	// Bounds are the genome resource bounds, checked before anything is
	// allocated.
	Bounds dna.Bounds `json:"-"`
	// Threads is how many threads one network's CPU kernels use (the
	// gorgonia engine's goroutines, the oneDNN engine's OpenMP team); 0
	// means GOMAXPROCS. It is how the work is run, not what is computed,
	// so it is not part of an experiment: a node sets it to its share of
	// the cores, one network per worker. It is not bit for bit neutral,
	// though: reductions split over more threads (the filter gradient's
	// sum over a batch, oneDNN's) round differently, so the same seed on
	// nodes with different shares trains to weights that differ in their
	// last bits, and the memory estimate counts a workspace per thread, so
	// a genome at the budget's edge may fit one node and not another.
	Threads int `json:"-"`
}

// CPUThreads returns Threads, or GOMAXPROCS when it is not set.
func (c *Config) CPUThreads() int {
	if c.Threads > 0 {
		return c.Threads
	}
	return runtime.GOMAXPROCS(0)
}

// DefaultConfig returns the paper's settings with 1,000 steps per child and
// the default genome bounds.
func DefaultConfig() Config {
	return Config{
		Steps:        1000,
		BatchSize:    50,
		Momentum:     0.9,
		WeightDecay:  1e-4,
		BNMomentum:   0.1,
		BNEpsilon:    1e-3,
		EvalBatch:    100,
		MemoryBudget: 4 << 30,
		Bounds:       dna.DefaultBounds(),
	}
}

// Validate checks the settings; its errors name the field.
func (c *Config) Validate() error {
	switch {
	case c.Steps < 0:
		return fmt.Errorf("train: steps %d is negative", c.Steps)
	case c.BatchSize < 1 || c.BatchSize > 4096:
		return fmt.Errorf("train: batch_size %d is outside [1, 4096]", c.BatchSize)
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return fmt.Errorf("train: momentum %v is outside [0, 1)", c.Momentum)
	case !(c.WeightDecay >= 0 && c.WeightDecay < 1):
		return fmt.Errorf("train: weight_decay %v is outside [0, 1)", c.WeightDecay)
	case !(c.BNMomentum > 0 && c.BNMomentum <= 1):
		return fmt.Errorf("train: bn_momentum %v is outside (0, 1]", c.BNMomentum)
	case !(c.BNEpsilon > 0 && c.BNEpsilon < 1) || math.IsInf(c.BNEpsilon, 0):
		return fmt.Errorf("train: bn_epsilon %v is outside (0, 1)", c.BNEpsilon)
	case c.EvalBatch < 1 || c.EvalBatch > 10000:
		return fmt.Errorf("train: eval_batch %d is outside [1, 10000]", c.EvalBatch)
	case c.MemoryBudget < 1<<20:
		return fmt.Errorf("train: memory_budget %d is below 1 MiB", c.MemoryBudget)
	}
	if err := validInheritance(c.Inheritance); err != nil {
		return err
	}
	return c.Bounds.Validate()
}
