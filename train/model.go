package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/evoswarm/evoswarm/island/dna"
)

// model is a genome's parameters and batch-norm state: the tensors that
// the training and the evaluation graphs share. Graphs bind tensors over
// these slices, so an update is seen by every graph at once.
type model struct {
	genome  *dna.Genome
	r       *dna.Resolved
	weights *Weights
	decay   map[string]bool // tensors under weight decay
	train   map[string]bool // tensors SGD updates (not running statistics)
	bn      map[uint32]*bnState
	threads int // the kernels' goroutines (Config.Threads)
}

func convKey(id uint32) string         { return fmt.Sprintf("conv/%d", id) }
func bnKey(id uint32, r string) string { return fmt.Sprintf("bn/%d/%s", id, r) }
func fcKey(id uint32, r string) string { return fmt.Sprintf("fc/%d/%s", id, r) }

// newModel lays out g's tensors. Each is copied from parent when parent has
// the same key with the same shape, and freshly initialised otherwise: He
// initialisation for conv kernels and the fully connected layer, scale 1,
// offset 0, mean 0 and variance 1 for batch norm, bias 0.
//
// With partial inheritance (cfg.Inheritance), a tensor whose key is in
// parent with another shape is sliced: the overlap is copied (copyOverlap)
// and only the rest is initialised, so that a child that only grows
// computes its parent's function (unless an identity edge carries a
// widened vertex's new channels into a wider vertex, where they add to
// channels that existed; docs/training.md):
//   - a conv kernel's new output channels are He-initialised (they must
//     differ from zero, or they and the zero weights that read them would
//     never move: a zero channel stays zero through batch norm, whose
//     ReLU at offset 0 passes no gradient back); its new input channels
//     and the ring a larger filter adds around the old one start at zero,
//     so the old output channels compute what they did;
//   - the fully connected layer's new input features start at zero;
//   - batch norm's new channels start as a fresh vertex's do (scale 1,
//     offset 0, mean 0, variance 1): batch norm works per channel, so the
//     old channels are unchanged.
//
// The exact mode draws the random stream as newModel always has; a sliced
// tensor draws only for its new output channels.
func newModel(g *dna.Genome, r *dna.Resolved, parent *Weights, cfg *Config, rng *rand.Rand) (*model, Inheritance) {
	m := &model{
		genome: g, r: r,
		weights: &Weights{Tensors: map[string]*Tensor{}},
		decay:   map[string]bool{},
		train:   map[string]bool{},
		bn:      map[uint32]*bnState{},
		threads: cfg.CPUThreads(),
	}
	inh := Inheritance{Mode: inheritanceMode(cfg.Inheritance)}
	partial := inh.Mode == InheritPartial
	// add lays out one tensor. init fills a new tensor; grow, given the
	// parent's shape, fills a sliced one before the overlap is copied over
	// it; centred marks the filter dimensions.
	add := func(key string, shape []int, init func(data []float32), grow func(data []float32, from []int), centred []bool) {
		t := &Tensor{Shape: shape}
		t.Data = make([]float32, t.Size())
		p, ok := parent.lookup(key)
		if ok && !p.finite() {
			ok = false // a parent's diverged (NaN) or poisoned tensor starts afresh
		}
		switch {
		case ok && sameShape(p.Shape, shape):
			copy(t.Data, p.Data)
			inh.InheritedTensors++
			inh.InheritedParams += int64(len(t.Data))
		case ok && partial && len(p.Shape) == len(shape) && len(p.Data) == p.Size():
			grow(t.Data, p.Shape)
			n := copyOverlap(t, p, centred)
			inh.SlicedTensors++
			inh.SlicedParams += n
			inh.NewParams += int64(len(t.Data)) - n
		default:
			init(t.Data)
			inh.NewTensors++
			inh.NewParams += int64(len(t.Data))
		}
		m.weights.Tensors[key] = t
	}
	he := func(fanIn int) func([]float32) {
		std := math.Sqrt(2 / float64(fanIn))
		return func(d []float32) {
			for i := range d {
				d[i] = float32(rng.NormFloat64() * std)
			}
		}
	}
	fill := func(v float32) func([]float32) {
		return func(d []float32) {
			for i := range d {
				d[i] = v
			}
		}
	}
	same := func(init func([]float32)) func([]float32, []int) {
		return func(d []float32, _ []int) { init(d) }
	}
	zero := func(d []float32, _ []int) { clear(d) }
	for j, e := range g.Edges {
		if e.Type != dna.Conv {
			continue
		}
		cin := r.VertexShape[g.VertexIndex(e.From)].C
		key := convKey(e.WeightID)
		fanIn := cin * e.FilterH * e.FilterW
		// A sliced kernel: output channels beyond the parent's are new
		// (He), the rest of what is new is zero.
		grow := func(d []float32, from []int) {
			clear(d)
			if from[0] < r.EdgeShape[j].C {
				he(fanIn)(d[from[0]*fanIn:])
			}
		}
		add(key, []int{r.EdgeShape[j].C, cin, e.FilterH, e.FilterW}, he(fanIn), grow, []bool{false, false, true, true})
		m.decay[key], m.train[key] = true, true
	}
	for i, v := range g.Vertices {
		if v.Type != dna.BNReLU {
			continue
		}
		c := r.VertexShape[i].C
		flat := []bool{false}
		add(bnKey(v.WeightID, "scale"), []int{c}, fill(1), same(fill(1)), flat)
		add(bnKey(v.WeightID, "offset"), []int{c}, fill(0), same(fill(0)), flat)
		add(bnKey(v.WeightID, "mean"), []int{c}, fill(0), same(fill(0)), flat)
		add(bnKey(v.WeightID, "var"), []int{c}, fill(1), same(fill(1)), flat)
		m.train[bnKey(v.WeightID, "scale")], m.train[bnKey(v.WeightID, "offset")] = true, true
		m.bn[v.ID] = &bnState{
			mean:     m.weights.Tensors[bnKey(v.WeightID, "mean")].Data,
			variance: m.weights.Tensors[bnKey(v.WeightID, "var")].Data,
			momentum: float32(cfg.BNMomentum),
			eps:      float32(cfg.BNEpsilon),
		}
	}
	c := r.VertexShape[g.VertexIndex(g.OutputVertex)].C
	add(fcKey(g.FCWeightID, "weight"), []int{g.Classes, c}, he(c), zero, []bool{false, false})
	add(fcKey(g.FCWeightID, "bias"), []int{g.Classes}, fill(0), same(fill(0)), []bool{false})
	m.decay[fcKey(g.FCWeightID, "weight")] = true
	m.train[fcKey(g.FCWeightID, "weight")], m.train[fcKey(g.FCWeightID, "bias")] = true, true
	return m, inh
}

func (w *Weights) lookup(key string) (*Tensor, bool) {
	if w == nil {
		return nil, false
	}
	t, ok := w.Tensors[key]
	return t, ok
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
