package train

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/kernels"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
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

// graph is one gorgonia expression graph over a model, for a fixed batch
// size: a training graph (loss and gradients) or a forward-only one.
type graph struct {
	g      *G.ExprGraph
	vm     G.VM
	batch  int
	x      *G.Node
	xval   *tensor.Dense
	lb     *labels
	logits *G.Node
	loss   *G.Node
	params map[string]*G.Node // trainable tensors' nodes
	grads  map[string]*G.Node
}

// build adds g's network to a new graph. In training mode it adds the loss
// and the gradients of every trainable tensor.
func (m *model) build(batch int, training bool) (gr *graph, err error) {
	defer func() {
		// gorgonia panics on some shape errors; none may escape.
		if p := recover(); p != nil {
			gr, err = nil, fmt.Errorf("train: building the network: %v", p)
		}
	}()
	g, r := m.genome, m.r
	gr = &graph{g: G.NewGraph(), batch: batch, lb: &labels{y: make([]int32, batch)}, params: map[string]*G.Node{}}
	in := g.Input
	gr.xval = tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(batch, in.C, in.H, in.W))
	gr.x = G.NewTensor(gr.g, tensor.Float32, 4, G.WithShape(batch, in.C, in.H, in.W), G.WithName("x"), G.WithValue(gr.xval))
	param := func(key string) *G.Node {
		if n, ok := gr.params[key]; ok {
			return n
		}
		t := m.weights.Tensors[key]
		val := tensor.New(tensor.WithShape(t.Shape...), tensor.WithBacking(t.Data))
		n := G.NewTensor(gr.g, tensor.Float32, len(t.Shape), G.WithShape(t.Shape...), G.WithName(key), G.WithValue(val))
		gr.params[key] = n
		return n
	}
	nodes := make([]*G.Node, len(g.Vertices))
	// grad[i] reports whether vertex i's value depends on a parameter, so
	// that a gradient must flow back through it.
	grad := make([]bool, len(g.Vertices))
	for _, i := range r.Order {
		v := g.Vertices[i]
		if v.ID == g.InputVertex {
			nodes[i] = gr.x
			continue
		}
		shape := r.VertexShape[i]
		var terms []*G.Node
		var need []bool
		for _, j := range r.In[i] {
			e := g.Edges[j]
			src := g.VertexIndex(e.From)
			n, needs := nodes[src], grad[src]
			if e.Type == dna.Conv {
				if n, err = convNode(n, param(convKey(e.WeightID)), e.Stride(), needs, m.threads); err != nil {
					return nil, err
				}
				needs = true
			}
			if es := r.EdgeShape[j]; es != shape {
				if n, err = reconcileNode(n, shape.C, shape.H, shape.W, needs); err != nil {
					return nil, err
				}
			}
			terms = append(terms, n)
			need = append(need, needs)
		}
		var n *G.Node
		if len(terms) == 1 {
			n = terms[0]
		} else if n, err = sumNode(terms, need); err != nil {
			return nil, err
		}
		grad[i] = anyTrue(need)
		if v.Type == dna.BNReLU {
			if n, err = bnReLUNode(n, param(bnKey(v.WeightID, "scale")), param(bnKey(v.WeightID, "offset")), m.bn[v.ID], training, m.threads); err != nil {
				return nil, err
			}
			grad[i] = true
		}
		nodes[i] = n
	}
	out := g.VertexIndex(g.OutputVertex)
	pooled, err := gapNode(nodes[out], grad[out])
	if err != nil {
		return nil, err
	}
	if gr.logits, err = denseNode(pooled, param(fcKey(g.FCWeightID, "weight")), param(fcKey(g.FCWeightID, "bias")), grad[out]); err != nil {
		return nil, err
	}
	if training {
		if gr.loss, err = lossNode(gr.logits, gr.lb); err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(gr.params))
		wrt := make(G.Nodes, 0, len(gr.params))
		for _, k := range m.weights.Keys() {
			if n, ok := gr.params[k]; ok {
				keys = append(keys, k)
				wrt = append(wrt, n)
			}
		}
		gs, err := G.Grad(gr.loss, wrt...)
		if err != nil {
			return nil, fmt.Errorf("train: differentiating the network: %w", err)
		}
		gr.grads = make(map[string]*G.Node, len(keys))
		for i, k := range keys {
			gr.grads[k] = gs[i]
		}
	}
	gr.vm = G.NewTapeMachine(gr.g)
	return gr, nil
}

func anyTrue(bs []bool) bool {
	for _, b := range bs {
		if b {
			return true
		}
	}
	return false
}

// run executes the graph once on the batch already in xval and lb.
func (gr *graph) run() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("train: running the network: %v", p)
		}
	}()
	if err := G.Let(gr.x, gr.xval); err != nil {
		return err
	}
	defer gr.vm.Reset()
	return gr.vm.RunAll()
}

// close releases the graph's machine.
func (gr *graph) close() {
	if gr != nil && gr.vm != nil {
		gr.vm.Close()
	}
}

// errDiverged marks a loss that became NaN or infinite.
var errDiverged = errors.New("loss diverged")

// lossValue returns the last run's loss.
func (gr *graph) lossValue() float64 {
	return float64(*(gr.loss.Value().(*G.F32)))
}

// workspaceFloats estimates the kernels' scratch memory for one graph.
func workspaceFloats(g *dna.Genome, r *dna.Resolved, batch, threads int) int64 {
	var n int64
	for j, e := range g.Edges {
		if e.Type != dna.Conv {
			continue
		}
		src := r.VertexShape[g.VertexIndex(e.From)]
		k := kernels.NewConv(batch, src.C, src.H, src.W, r.EdgeShape[j].C, e.FilterH, e.FilterW, e.Stride(), threads)
		n += int64(k.WorkspaceFloats())
	}
	return n
}
