package train

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/evoswarm/evoswarm/train/dnnl"
)

// engine is what Train drives: the gorgonia network on the CPU, or a
// DeviceNetwork on a device. Both lay out the model from the same random
// stream, so a seed gives the same initial weights and batches on either.
type engine interface {
	inheritance() Inheritance
	// batch returns the buffers each training batch is written into.
	batch() (x []float32, labels []int32, err error)
	// trainStep trains on the batch in those buffers and returns its loss;
	// a loss that is not finite is returned without an update.
	trainStep() (float64, error)
	// weights returns the tensors, on the host.
	weights() (*Weights, error)
	accuracy(ctx context.Context, data *dataset.Set, split *dataset.Split, batch int) (float64, error)
	// predict returns the most likely class of every image of a split.
	predict(ctx context.Context, data *dataset.Set, split *dataset.Split, batch int) ([]int32, error)
	close()
}

// engineName names an engine for Result.Engine.
func engineName(e engine) string {
	switch e.(type) {
	case cpuEngine:
		return EngineGorgonia
	case *oneDNNEngine:
		return EngineOneDNN
	case *deviceEngine:
		return "device"
	}
	return ""
}

// Engine names for RunOptions.Engine.
const (
	// EngineAuto trains on oneDNN where the build has it (-tags dnnl) and
	// with gorgonia otherwise.
	EngineAuto = ""
	// EngineGorgonia is the gorgonia graph over train/kernels: the pure-Go
	// (or OpenBLAS) reference every build has.
	EngineGorgonia = "gorgonia"
	// EngineOneDNN runs each training step and evaluation batch as oneDNN
	// primitives in one cgo call (package train/dnnl).
	EngineOneDNN = "onednn"
)

// CPUEngine names the engine that EngineAuto picks in this build.
func CPUEngine() string {
	if dnnl.Enabled {
		return EngineOneDNN
	}
	return EngineGorgonia
}

// newHostEngine builds the CPU engine that name asks for.
func newHostEngine(name string, g *dna.Genome, r *dna.Resolved, parent *Weights, cfg *Config, rng *rand.Rand) (engine, error) {
	switch name {
	case EngineAuto:
		if dnnl.Enabled {
			return newOneDNNEngine(g, r, parent, cfg, rng)
		}
		return newCPUEngine(g, r, parent, cfg, rng)
	case EngineGorgonia:
		return newCPUEngine(g, r, parent, cfg, rng)
	case EngineOneDNN:
		if !dnnl.Enabled {
			return nil, dnnl.ErrDisabled
		}
		return newOneDNNEngine(g, r, parent, cfg, rng)
	}
	return nil, fmt.Errorf("train: unknown engine %q (want %q or %q)", name, EngineGorgonia, EngineOneDNN)
}
