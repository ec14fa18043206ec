package train

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// Network is a genome's network with its weights, ready to train step by
// step or to evaluate. Train drives one for a whole run; tools (export,
// the PyTorch cross-check) drive one directly. A Network is not safe for
// concurrent use.
type Network struct {
	cfg   Config
	m     *model
	inh   Inheritance
	train *graph // built on the first training step
	evals map[int]*graph
	sgd   *sgd
}

// NewNetwork builds g's network with every tensor taken from w. It fails if
// w lacks a tensor or has one of the wrong shape, or if g is over the
// bounds or the memory budget.
func NewNetwork(g *dna.Genome, w *Weights, cfg Config) (*Network, error) {
	r, err := resolveWithin(g, &cfg, forTraining)
	if err != nil {
		return nil, err
	}
	n, err := newNetwork(g, r, w, &cfg, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, err
	}
	if err := n.inh.fits(g); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func newNetwork(g *dna.Genome, r *dna.Resolved, parent *Weights, cfg *Config, rng *rand.Rand) (*Network, error) {
	m, inh := newModel(g, r, parent, cfg, rng)
	return &Network{cfg: *cfg, m: m, inh: inh, evals: map[int]*graph{}}, nil
}

// Weights returns the network's tensors; they change as it trains.
func (n *Network) Weights() *Weights { return n.m.weights }

// Inheritance reports which tensors came from the parent.
func (n *Network) Inheritance() Inheritance { return n.inh }

func (n *Network) trainGraph() (*graph, error) {
	if n.train == nil {
		gr, err := n.m.build(n.cfg.BatchSize, true)
		if err != nil {
			return nil, err
		}
		n.train = gr
		n.sgd = newSGD(n.m, gr, &n.cfg)
	}
	return n.train, nil
}

func (n *Network) evalGraph(batch int) (*graph, error) {
	if gr, ok := n.evals[batch]; ok {
		return gr, nil
	}
	gr, err := n.m.build(batch, false)
	if err != nil {
		return nil, err
	}
	n.evals[batch] = gr
	return gr, nil
}

// TrainStep runs one SGD step on a batch of Config.BatchSize images (NCHW,
// normalised) and labels, and returns the batch loss before the update.
// A NaN or infinite loss is returned as it is, and the update is skipped.
func (n *Network) TrainStep(x []float32, labels []int32) (float64, error) {
	gr, err := n.trainGraph()
	if err != nil {
		return 0, err
	}
	if len(x) != len(gr.xval.Float32s()) || len(labels) != len(gr.lb.y) {
		return 0, fmt.Errorf("train: batch of %d values and %d labels, want %d and %d", len(x), len(labels), len(gr.xval.Float32s()), len(gr.lb.y))
	}
	copy(gr.xval.Float32s(), x)
	copy(gr.lb.y, labels)
	return n.step()
}

// step runs the training graph on the batch already in place and updates
// the weights unless the loss is not finite.
func (n *Network) step() (float64, error) {
	gr, err := n.trainGraph()
	if err != nil {
		return 0, err
	}
	if err := gr.run(); err != nil {
		return 0, err
	}
	loss := gr.lossValue()
	if loss-loss != 0 { // NaN or infinite
		return loss, nil
	}
	n.sgd.step(n.m.genome.LearningRate)
	return loss, nil
}

// Logits runs the forward-only graph, with batch norm on its running
// statistics, on a batch of images and returns the logits (batch x classes).
func (n *Network) Logits(x []float32, batch int) ([]float32, error) {
	gr, err := n.evalGraph(batch)
	if err != nil {
		return nil, err
	}
	if len(x) != len(gr.xval.Float32s()) {
		return nil, fmt.Errorf("train: batch of %d values, want %d", len(x), len(gr.xval.Float32s()))
	}
	copy(gr.xval.Float32s(), x)
	if err := gr.run(); err != nil {
		return nil, err
	}
	return append([]float32(nil), f32s(gr.logits.Value())...), nil
}

// Close releases the graphs.
func (n *Network) Close() {
	n.train.close()
	for _, gr := range n.evals {
		gr.close()
	}
	n.train, n.evals = nil, map[int]*graph{}
}

// cpuEngine is the gorgonia Network.
type cpuEngine struct{ net *Network }

func newCPUEngine(g *dna.Genome, r *dna.Resolved, parent *Weights, cfg *Config, rng *rand.Rand) (engine, error) {
	net, err := newNetwork(g, r, parent, cfg, rng)
	if err != nil {
		return nil, err
	}
	return cpuEngine{net}, nil
}

func (e cpuEngine) inheritance() Inheritance { return e.net.inh }

func (e cpuEngine) batch() ([]float32, []int32, error) {
	tr, err := e.net.trainGraph()
	if err != nil {
		return nil, nil, err
	}
	return tr.xval.Float32s(), tr.lb.y, nil
}

func (e cpuEngine) trainStep() (float64, error) { return e.net.step() }

func (e cpuEngine) weights() (*Weights, error) { return e.net.m.weights, nil }

func (e cpuEngine) accuracy(ctx context.Context, data *dataset.Set, split *dataset.Split, batch int) (float64, error) {
	ev, err := e.net.evalGraph(batch)
	if err != nil {
		return 0, err
	}
	return ev.accuracy(ctx, data, split)
}

func (e cpuEngine) predict(ctx context.Context, data *dataset.Set, split *dataset.Split, batch int) ([]int32, error) {
	ev, err := e.net.evalGraph(batch)
	if err != nil {
		return nil, err
	}
	return ev.predict(ctx, data, split)
}

func (e cpuEngine) close() { e.net.Close() }
