package train

import (
	"context"
	"fmt"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

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

// lossValue returns the last run's loss.
func (gr *graph) lossValue() float64 {
	return float64(*(gr.loss.Value().(*G.F32)))
}

// accuracy runs the forward-only graph over a split in batches; a short last
// batch is padded and its padding ignored.
func (gr *graph) accuracy(ctx context.Context, data *dataset.Set, split *dataset.Split) (float64, error) {
	if split.N == 0 {
		return 0, nil
	}
	pred, err := gr.predict(ctx, data, split)
	if err != nil {
		return 0, err
	}
	return accuracyOf(pred, split), nil
}

// predict runs the forward-only graph over a split in batches and returns
// the most likely class of every image; a short last batch is padded and its
// padding ignored.
func (gr *graph) predict(ctx context.Context, data *dataset.Set, split *dataset.Split) ([]int32, error) {
	pred := make([]int32, 0, split.N)
	idx := make([]int, gr.batch)
	x := gr.xval.Float32s()
	for lo := 0; lo < split.N; lo += gr.batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(gr.batch, split.N-lo)
		for i := range idx {
			idx[i] = lo + min(i, n-1)
		}
		if err := data.Batch(split, idx, dataset.Augment{}, nil, x, gr.lb.y); err != nil {
			return nil, err
		}
		if err := gr.run(); err != nil {
			return nil, err
		}
		logits := f32s(gr.logits.Value())
		classes := len(logits) / gr.batch
		for i := range n {
			pred = append(pred, int32(argmax(logits[i*classes:(i+1)*classes])))
		}
	}
	return pred, nil
}

// close releases the graph's machine.
func (gr *graph) close() {
	if gr != nil && gr.vm != nil {
		gr.vm.Close()
	}
}
