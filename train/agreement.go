package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/evoswarm/evoswarm/train/device"
	"github.com/evoswarm/evoswarm/train/dnnl"
)

// Agreement is how closely a device reproduces the CPU engine on one genome
// (CompareDevice).
type Agreement struct {
	Genome string `json:"genome"`
	Params int64  `json:"params"`
	// SameInitialWeights: the device network's tensors, read back before
	// training, equal the CPU network's bit for bit.
	SameInitialWeights bool `json:"same_initial_weights"`
	// LogitsMaxDiff is the largest absolute difference between the two
	// engines' inference logits on a validation batch before training;
	// FinalLogitsMaxDiff the same after it.
	LogitsMaxDiff      float64 `json:"logits_max_diff"`
	FinalLogitsMaxDiff float64 `json:"final_logits_max_diff"`
	// LossCPU and LossDevice are each step's training loss.
	LossCPU    []float64 `json:"loss_cpu"`
	LossDevice []float64 `json:"loss_device"`
	// LossMaxDiff is the largest absolute difference of a step's loss.
	LossMaxDiff float64 `json:"loss_max_diff"`
	// WeightsMaxDiff is the largest absolute difference of any weight
	// after training.
	WeightsMaxDiff float64 `json:"weights_max_diff"`
}

// CompareDevice trains g from the same initial weights on the CPU engine
// and on dev, with the same batches, for steps SGD steps, and reports how
// far apart they are. The caller must hold dev (Begin).
func CompareDevice(g *dna.Genome, data *dataset.Set, cfg Config, dev device.Device, steps int, seed uint64) (*Agreement, error) {
	return compareEngines(g, data, cfg, steps, seed, func(r *dna.Resolved, init *Weights, rng *rand.Rand) (stepper, error) {
		return newDeviceNetwork(g, r, init, &cfg, dev, rng)
	})
}

// CompareOneDNN is CompareDevice for the oneDNN engine: the gorgonia
// engine and oneDNN trained side by side from the same weights on the same
// batches. It fails in a build without oneDNN.
func CompareOneDNN(g *dna.Genome, data *dataset.Set, cfg Config, steps int, seed uint64) (*Agreement, error) {
	return compareEngines(g, data, cfg, steps, seed, func(r *dna.Resolved, init *Weights, rng *rand.Rand) (stepper, error) {
		if !dnnl.Enabled {
			return nil, dnnl.ErrDisabled
		}
		e, err := newOneDNNEngine(g, r, init, &cfg, rng)
		if err != nil {
			return nil, err
		}
		return oneDNNStepper{e}, nil
	})
}

// stepper is the engine under comparison.
type stepper interface {
	Logits(x []float32, batch int) ([]float32, error)
	TrainStep(x []float32, labels []int32) (float64, error)
	Weights() (*Weights, error)
	Close()
}

type oneDNNStepper struct{ e *oneDNNEngine }

func (s oneDNNStepper) Logits(x []float32, batch int) ([]float32, error) { return s.e.logits(x, batch) }
func (s oneDNNStepper) Weights() (*Weights, error)                       { return s.e.weights() }
func (s oneDNNStepper) Close()                                           { s.e.close() }

func (s oneDNNStepper) TrainStep(x []float32, labels []int32) (float64, error) {
	bx, bl, err := s.e.batch()
	if err != nil {
		return 0, err
	}
	if len(x) != len(bx) || len(labels) != len(bl) {
		return 0, fmt.Errorf("train: batch of %d values and %d labels, want %d and %d", len(x), len(labels), len(bx), len(bl))
	}
	copy(bx, x)
	copy(bl, labels)
	return s.e.trainStep()
}

func compareEngines(g *dna.Genome, data *dataset.Set, cfg Config, steps int, seed uint64, other func(*dna.Resolved, *Weights, *rand.Rand) (stepper, error)) (*Agreement, error) {
	r, err := check(g, data, &cfg, forTraining)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6167726565)) // "agree"
	cpu, err := newNetwork(g, r, nil, &cfg, rng)
	if err != nil {
		return nil, err
	}
	defer cpu.Close()
	init := cloneWeights(cpu.Weights())
	gpu, err := other(r, init, rng)
	if err != nil {
		return nil, err
	}
	defer gpu.Close()
	a := &Agreement{Genome: g.ID().Short(), Params: g.Params()}
	w, err := gpu.Weights()
	if err != nil {
		return nil, err
	}
	d, exact := weightsDiff(init, w)
	a.SameInitialWeights = exact && d == 0

	if data.Val.N == 0 {
		return nil, fmt.Errorf("train: the data set has no validation split to compare logits on")
	}
	eb := min(cfg.EvalBatch, data.Val.N)
	in := g.Input
	ex := make([]float32, eb*in.C*in.H*in.W)
	el := make([]int32, eb)
	idx := make([]int, eb)
	for i := range idx {
		idx[i] = i
	}
	if err := data.Batch(data.Val, idx, dataset.Augment{}, nil, ex, el); err != nil {
		return nil, err
	}
	logitsDiff := func() (float64, error) {
		lc, err := cpu.Logits(ex, eb)
		if err != nil {
			return 0, err
		}
		ld, err := gpu.Logits(ex, eb)
		if err != nil {
			return 0, err
		}
		return maxAbsDiff(lc, ld), nil
	}
	if a.LogitsMaxDiff, err = logitsDiff(); err != nil {
		return nil, err
	}
	sampler, err := dataset.NewSampler(data.Train.N, cfg.BatchSize, rng)
	if err != nil {
		return nil, err
	}
	aug := data.DefaultAugment()
	x := make([]float32, cfg.BatchSize*in.C*in.H*in.W)
	lb := make([]int32, cfg.BatchSize)
	for range steps {
		if err := data.Batch(data.Train, sampler.Next(), aug, rng, x, lb); err != nil {
			return nil, err
		}
		lc, err := cpu.TrainStep(x, lb)
		if err != nil {
			return nil, err
		}
		ld, err := gpu.TrainStep(x, lb)
		if err != nil {
			return nil, err
		}
		a.LossCPU, a.LossDevice = append(a.LossCPU, lc), append(a.LossDevice, ld)
		a.LossMaxDiff = max(a.LossMaxDiff, math.Abs(lc-ld))
		if math.IsNaN(lc) || math.IsNaN(ld) {
			a.LossMaxDiff = math.Inf(1)
		}
	}
	if a.FinalLogitsMaxDiff, err = logitsDiff(); err != nil {
		return nil, err
	}
	if w, err = gpu.Weights(); err != nil {
		return nil, err
	}
	a.WeightsMaxDiff, _ = weightsDiff(cpu.Weights(), w)
	return a, nil
}

// Check reports whether the agreement is within the tolerances the GPU
// check holds a device to: logits within logitsTol, every step's loss
// within lossTol, and identical initial weights.
func (a *Agreement) Check(logitsTol, lossTol float64) error {
	switch {
	case !a.SameInitialWeights:
		return fmt.Errorf("genome %s: the device's initial weights differ from the CPU's", a.Genome)
	case !(a.LogitsMaxDiff <= logitsTol):
		return fmt.Errorf("genome %s: initial logits differ by %.3g (tolerance %g)", a.Genome, a.LogitsMaxDiff, logitsTol)
	case !(a.LossMaxDiff <= lossTol):
		return fmt.Errorf("genome %s: losses differ by up to %.3g over %d steps (tolerance %g)", a.Genome, a.LossMaxDiff, len(a.LossCPU), lossTol)
	}
	return nil
}

func cloneWeights(w *Weights) *Weights {
	c := &Weights{Tensors: make(map[string]*Tensor, len(w.Tensors))}
	for k, t := range w.Tensors {
		c.Tensors[k] = &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
	}
	return c
}

// weightsDiff returns the largest absolute difference between two sets of
// tensors, and whether they have the same keys and shapes.
func weightsDiff(a, b *Weights) (float64, bool) {
	if len(a.Tensors) != len(b.Tensors) {
		return math.Inf(1), false
	}
	var d float64
	for k, ta := range a.Tensors {
		tb, ok := b.Tensors[k]
		if !ok || !sameShape(ta.Shape, tb.Shape) {
			return math.Inf(1), false
		}
		d = max(d, maxAbsDiff(ta.Data, tb.Data))
	}
	return d, true
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		v := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(v) {
			return math.Inf(1)
		}
		d = max(d, v)
	}
	return d
}
