package train

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/evoswarm/evoswarm/train/dnnl"
)

// OneDNNISA names the instruction set the oneDNN engine dispatches to, or
// is empty in a build without it.
func OneDNNISA() string { return dnnl.ISA() }

// OneDNNLayoutOverride returns the layout EVOSWARM_ONEDNN_LAYOUT forces on
// the oneDNN engine's training passes ("nhwc" or "blocked"; empty where it
// is unset), or an error for a value the engine ignores.
func OneDNNLayoutOverride() (string, error) {
	switch v := os.Getenv("EVOSWARM_ONEDNN_LAYOUT"); v {
	case "", "nhwc", "blocked":
		return v, nil
	default:
		return "", fmt.Errorf("EVOSWARM_ONEDNN_LAYOUT=%q is neither nhwc nor blocked: ignored, each network's layout is chosen as usual", v)
	}
}

// oneDNNEngine is a genome's network on oneDNN: the same model (same keys,
// same initialisation from the same random stream) as the gorgonia engine,
// with its tensors copied to the C heap when it is built and back by
// weights.
type oneDNNEngine struct {
	net     *dnnl.Net
	m       *model
	inh     Inheritance
	keys    []string
	cfg     Config
	classes int
	inSize  int
}

func newOneDNNEngine(g *dna.Genome, r *dna.Resolved, parent *Weights, cfg *Config, rng *rand.Rand) (*oneDNNEngine, error) {
	m, inh := newModel(g, r, parent, cfg, rng)
	spec, keys, err := oneDNNSpec(m, cfg)
	if err != nil {
		return nil, err
	}
	net, err := dnnl.New(spec)
	if err != nil {
		return nil, fmt.Errorf("train: genome %s: %w", g.ID().Short(), err)
	}
	for i, k := range keys {
		copy(net.Param(i), m.weights.Tensors[k].Data)
	}
	in := g.Input
	return &oneDNNEngine{net: net, m: m, inh: inh, keys: keys, cfg: *cfg, classes: g.Classes, inSize: in.C * in.H * in.W}, nil
}

// oneDNNSpec describes m's network to package dnnl: vertices in
// topological order with the input first, every input edge as a term, and
// the parameters in key order.
func oneDNNSpec(m *model, cfg *Config) (*dnnl.Spec, []string, error) {
	g, r := m.genome, m.r
	keys := m.weights.Keys()
	pidx := make(map[string]int, len(keys))
	s := &dnnl.Spec{
		Classes: g.Classes, Momentum: float32(cfg.Momentum), WeightDecay: float32(cfg.WeightDecay),
		BNMomentum: float32(cfg.BNMomentum), BNEpsilon: float32(cfg.BNEpsilon),
		Threads: cfg.CPUThreads(),
	}
	for i, k := range keys {
		pidx[k] = i
		s.Params = append(s.Params, dnnl.Param{Size: len(m.weights.Tensors[k].Data), Train: m.train[k], Decay: m.decay[k]})
	}
	in := g.VertexIndex(g.InputVertex)
	order := []int{in}
	for _, i := range r.Order {
		if i != in {
			order = append(order, i)
		}
	}
	pos := make([]int, len(g.Vertices))
	for p, i := range order {
		pos[i] = p
	}
	for p, i := range order {
		v := g.Vertices[i]
		sh := r.VertexShape[i]
		dv := dnnl.Vertex{C: sh.C, H: sh.H, W: sh.W}
		if p > 0 {
			for _, j := range r.In[i] {
				e := &g.Edges[j]
				es := r.EdgeShape[j]
				t := dnnl.Term{Src: pos[g.VertexIndex(e.From)], C: es.C, H: es.H, W: es.W}
				if e.Type == dna.Conv {
					t.Conv, t.Weight = true, pidx[convKey(e.WeightID)]
					t.KH, t.KW, t.Stride = e.FilterH, e.FilterW, e.Stride()
				}
				if t.Src >= p {
					return nil, nil, fmt.Errorf("train: genome %s: vertex %d is not in topological order", g.ID().Short(), v.ID)
				}
				dv.Terms = append(dv.Terms, t)
			}
		}
		if v.Type == dna.BNReLU {
			dv.BN = true
			dv.Scale, dv.Shift = pidx[bnKey(v.WeightID, "scale")], pidx[bnKey(v.WeightID, "offset")]
			dv.Mean, dv.Var = pidx[bnKey(v.WeightID, "mean")], pidx[bnKey(v.WeightID, "var")]
		}
		s.Vertices = append(s.Vertices, dv)
	}
	s.Out = pos[g.VertexIndex(g.OutputVertex)]
	s.FCWeight, s.FCBias = pidx[fcKey(g.FCWeightID, "weight")], pidx[fcKey(g.FCWeightID, "bias")]
	return s, keys, nil
}

func (e *oneDNNEngine) inheritance() Inheritance { return e.inh }

func (e *oneDNNEngine) batch() ([]float32, []int32, error) {
	return e.net.Batch(e.cfg.BatchSize, e.inSize, true)
}

func (e *oneDNNEngine) trainStep() (float64, error) {
	return e.net.Step(e.cfg.BatchSize, float32(e.m.genome.LearningRate))
}

func (e *oneDNNEngine) weights() (*Weights, error) {
	for i, k := range e.keys {
		copy(e.m.weights.Tensors[k].Data, e.net.Param(i))
	}
	return e.m.weights, nil
}

func (e *oneDNNEngine) accuracy(ctx context.Context, data *dataset.Set, split *dataset.Split, batch int) (float64, error) {
	if split.N == 0 {
		return 0, nil
	}
	pred, err := e.predict(ctx, data, split, batch)
	if err != nil {
		return 0, err
	}
	return accuracyOf(pred, split), nil
}

// predict runs the inference pass over a split in batches; a short last
// batch is padded and its padding ignored. With more than one thread it
// runs lanes: one goroutine per thread, each with an inference pass of its
// own on one thread, taking every lanes-th batch. On the small networks
// evolution makes, one primitive split over two threads spends much of its
// time at barriers; two batches at once do not.
func (e *oneDNNEngine) predict(ctx context.Context, data *dataset.Set, split *dataset.Split, batch int) ([]int32, error) {
	// One lane a thread, as many as the memory budget holds.
	lanes := evalLanes(e.m.genome, e.m.r, &e.cfg, min(e.cfg.CPUThreads(), (split.N+batch-1)/batch))
	if lanes <= 1 {
		return e.predictLane(ctx, data, split, batch, nil, 0, 1)
	}
	// Passes are built here, one after another; running them is what the
	// lanes do concurrently.
	xs := make([][]float32, lanes)
	for l := range lanes {
		x, err := e.net.LaneInput(batch, e.inSize, l, lanes)
		if err != nil {
			return nil, err
		}
		xs[l] = x
	}
	pred := make([]int32, split.N)
	errs := make([]error, lanes)
	// A lane that fails stops the others at their next batch.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for l := range lanes {
		wg.Go(func() {
			defer func() {
				if errs[l] != nil {
					cancel()
				}
			}()
			runtime.LockOSThread() // a lane of several threads keeps one OpenMP team for its batches: see Train
			defer runtime.UnlockOSThread()
			// A panic here would escape Evaluate's and Predict's recover,
			// which covers only their own goroutine, and end the node.
			defer func() {
				if p := recover(); p != nil {
					errs[l] = fmt.Errorf("train: evaluation lane %d: internal error: %v", l, p)
				}
			}()
			_, errs[l] = e.predictLane(ctx, data, split, batch, pred, l, lanes)
		})
	}
	wg.Wait()
	// The others' cancellations say nothing the failure does not.
	var failed []error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			failed = append(failed, err)
		}
	}
	if err := errors.Join(failed...); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err // the caller's own cancellation
	}
	return pred, nil
}

// predictLane runs the batches of lane l of lanes (every lanes-th batch from
// the l-th), writing their predictions into pred; with one lane and a nil
// pred it runs the network's own inference pass and returns a new slice.
func (e *oneDNNEngine) predictLane(ctx context.Context, data *dataset.Set, split *dataset.Split, batch int, pred []int32, l, lanes int) ([]int32, error) {
	var x []float32
	var err error
	single := pred == nil
	if single {
		if x, _, err = e.net.Batch(batch, e.inSize, false); err != nil {
			return nil, err
		}
		pred = make([]int32, split.N)
	} else if x, err = e.net.LaneInput(batch, e.inSize, l, lanes); err != nil {
		return nil, err
	}
	labels := make([]int32, batch)
	idx := make([]int, batch)
	for lo := l * batch; lo < split.N; lo += lanes * batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(batch, split.N-lo)
		for i := range idx {
			idx[i] = lo + min(i, n-1)
		}
		if err := data.Batch(split, idx, dataset.Augment{}, nil, x, labels); err != nil {
			return nil, err
		}
		var logits []float32
		if single {
			logits, err = e.net.Forward(batch, e.classes)
		} else {
			logits, err = e.net.LaneForward(batch, e.classes, l, lanes)
		}
		if err != nil {
			return nil, err
		}
		for i := range n {
			pred[lo+i] = int32(argmax(logits[i*e.classes : (i+1)*e.classes]))
		}
	}
	return pred, nil
}

// logits runs the inference pass on one batch of images (NCHW).
func (e *oneDNNEngine) logits(x []float32, batch int) ([]float32, error) {
	in, _, err := e.net.Batch(batch, e.inSize, false)
	if err != nil {
		return nil, err
	}
	if len(x) != len(in) {
		return nil, fmt.Errorf("train: batch of %d values, want %d", len(x), len(in))
	}
	copy(in, x)
	out, err := e.net.Forward(batch, e.classes)
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), out...), nil
}

func (e *oneDNNEngine) close() { e.net.Close() }
