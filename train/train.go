package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/evoswarm/evoswarm/train/device"
)

// RunOptions are the settings of one training run beyond the experiment's
// Config.
type RunOptions struct {
	// Seed drives initialisation, batch order and augmentation.
	Seed uint64
	// Test also measures accuracy on the test split. Evolution never does:
	// the test split is only for reporting a final model.
	Test bool
	// Progress, if set, is called after every step with the step number
	// (from 1) and the batch loss.
	Progress func(step int, loss float64)
	// Device, when set, trains and evaluates on that device (a GPU, see
	// package device) instead of the CPU. The caller must not be using it
	// (Train takes it with Begin).
	Device device.Device
	// Engine picks the CPU engine when Device is nil: EngineAuto (oneDNN
	// where the build has it), EngineGorgonia or EngineOneDNN.
	Engine string
}

// Result is what training and evaluating one genome produced.
type Result struct {
	// ValAccuracy is the fitness: accuracy on the validation split. It is
	// 0 when training diverged.
	ValAccuracy float64 `json:"val_accuracy"`
	// TestAccuracy is set only when RunOptions.Test asked for it.
	TestAccuracy *float64 `json:"test_accuracy"`
	Steps        int      `json:"steps"`
	// Seconds is the time the training steps took. BuildSeconds is the
	// time before the first step (laying out the model, inheriting, building
	// the network) and EvalSeconds the time of the evaluation after the last.
	Seconds      float64 `json:"seconds"`
	BuildSeconds float64 `json:"build_seconds"`
	EvalSeconds  float64 `json:"eval_seconds"`
	// ImagesPerSecond is the training throughput.
	ImagesPerSecond float64 `json:"images_per_second"`
	// TrainFLOPs and EvalFLOPs follow the paper's accounting: training
	// costs 3x the forward FLOPs per image (forward and backward), times
	// images seen; evaluation costs the forward FLOPs per image evaluated.
	TrainFLOPs int64 `json:"train_flops"`
	EvalFLOPs  int64 `json:"eval_flops"`
	Inheritance
	FinalLoss float64 `json:"final_loss"`
	// Device names the device that trained it; empty for the CPU.
	Device string `json:"device,omitempty"`
	// Engine names the engine that trained it: a device's, or a CPU
	// engine (EngineGorgonia, EngineOneDNN).
	Engine string `json:"engine"`
	// Diverged is set, with Reason, when the loss became NaN or infinite:
	// the individual gets fitness 0 and is not an error.
	Diverged bool   `json:"diverged"`
	Reason   string `json:"reason,omitempty"`
	// Weights are the trained tensors.
	Weights *Weights `json:"-"`
}

// ErrMemoryBudget is returned when a genome's estimated memory exceeds the
// configured budget.
var ErrMemoryBudget = errors.New("train: network exceeds the memory budget")

// Train builds g's network, inherits every tensor of parent (nil for none)
// whose weight ID and shape match, trains it for cfg.Steps SGD steps on
// data's training split and evaluates it on the validation split. A genome
// over the bounds or the memory budget is refused before anything is
// allocated. A diverging loss ends training with fitness 0, not an error.
// Cancelling ctx stops training within one step. No panic escapes.
func Train(ctx context.Context, g *dna.Genome, parent *Weights, data *dataset.Set, cfg Config, opt RunOptions) (res *Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("train: genome %s: internal error: %v", g.ID().Short(), p)
		}
	}()
	built := time.Now()
	r, err := check(g, data, &cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x747261696e)) // "train"
	var eng engine
	if opt.Device != nil {
		eng, err = newDeviceEngine(g, r, parent, &cfg, opt.Device, rng)
	} else {
		eng, err = newHostEngine(opt.Engine, g, r, parent, &cfg, rng)
	}
	if err != nil {
		return nil, err
	}
	defer eng.close()
	res = &Result{Inheritance: eng.inheritance(), Engine: engineName(eng)}
	if opt.Device != nil {
		res.Device = opt.Device.Name()
	}
	flops := g.FLOPs()
	x, labels, err := eng.batch()
	if err != nil {
		return nil, err
	}
	sampler, err := dataset.NewSampler(data.Train.N, cfg.BatchSize, rng)
	if err != nil {
		return nil, err
	}
	aug := data.DefaultAugment()
	start := time.Now()
	res.BuildSeconds = start.Sub(built).Seconds()
	for step := 1; step <= cfg.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := data.Batch(data.Train, sampler.Next(), aug, rng, x, labels); err != nil {
			return nil, err
		}
		loss, err := eng.trainStep()
		if err != nil {
			return nil, err
		}
		res.Steps, res.FinalLoss = step, loss
		res.TrainFLOPs += 3 * flops * int64(cfg.BatchSize)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			res.Diverged = true
			res.Reason = fmt.Sprintf("%v: loss %v at step %d", errDiverged, loss, step)
			break
		}
		if opt.Progress != nil {
			opt.Progress(step, loss)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.ImagesPerSecond = float64(res.Steps*cfg.BatchSize) / res.Seconds
	}
	if res.Weights, err = eng.weights(); err != nil {
		return nil, err
	}
	if !res.Diverged && !res.Weights.finite() {
		res.Diverged = true
		res.Reason = fmt.Sprintf("%v: weights are not finite after step %d", errDiverged, res.Steps)
	}
	if res.Diverged {
		return res, nil
	}
	evalStart := time.Now()
	defer func() {
		if res != nil {
			res.EvalSeconds = time.Since(evalStart).Seconds()
		}
	}()
	eb := min(cfg.EvalBatch, max(data.Val.N, data.Test.N, 1))
	if res.ValAccuracy, err = eng.accuracy(ctx, data, data.Val, eb); err != nil {
		return nil, err
	}
	res.EvalFLOPs += flops * int64(data.Val.N)
	if opt.Test {
		acc, err := eng.accuracy(ctx, data, data.Test, eb)
		if err != nil {
			return nil, err
		}
		res.TestAccuracy = &acc
		res.EvalFLOPs += flops * int64(data.Test.N)
	}
	return res, nil
}

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

// Evaluate measures the accuracy of g with the given weights on a split,
// with a forward-only graph.
func Evaluate(ctx context.Context, g *dna.Genome, w *Weights, data *dataset.Set, split *dataset.Split, cfg Config) (acc float64, err error) {
	defer func() {
		if p := recover(); p != nil {
			acc, err = 0, fmt.Errorf("train: genome %s: internal error: %v", g.ID().Short(), p)
		}
	}()
	r, err := check(g, data, &cfg)
	if err != nil {
		return 0, err
	}
	eng, err := openEngine(g, r, w, &cfg)
	if err != nil {
		return 0, err
	}
	defer eng.close()
	return eng.accuracy(ctx, data, split, min(cfg.EvalBatch, max(split.N, 1)))
}

// check validates the config, the genome against the bounds and the data,
// and the memory estimate against the budget, before anything is built.
func check(g *dna.Genome, data *dataset.Set, cfg *Config) (*dna.Resolved, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := g.Validate(cfg.Bounds); err != nil {
		return nil, err
	}
	if in := g.Input; in.H != data.H || in.W != data.W || in.C != data.C || g.Classes != data.Classes {
		return nil, fmt.Errorf("train: genome expects %v images and %d classes, data set %s has %dx%dx%d and %d", in, g.Classes, data.Name, data.H, data.W, data.C, data.Classes)
	}
	if data.Train.N < cfg.BatchSize {
		return nil, fmt.Errorf("train: training split has %d images, fewer than a batch of %d", data.Train.N, cfg.BatchSize)
	}
	return resolveWithin(g, cfg)
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

func argmax(row []float32) int {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}

// Predict returns the class g with weights w predicts for every image of a
// split, with a forward-only graph.
func Predict(ctx context.Context, g *dna.Genome, w *Weights, data *dataset.Set, split *dataset.Split, cfg Config) (pred []int32, err error) {
	defer func() {
		if p := recover(); p != nil {
			pred, err = nil, fmt.Errorf("train: genome %s: internal error: %v", g.ID().Short(), p)
		}
	}()
	r, err := check(g, data, &cfg)
	if err != nil {
		return nil, err
	}
	eng, err := openEngine(g, r, w, &cfg)
	if err != nil {
		return nil, err
	}
	defer eng.close()
	return eng.predict(ctx, data, split, min(cfg.EvalBatch, max(split.N, 1)))
}

// finite reports whether every tensor holds finite values.
func (w *Weights) finite() bool {
	for _, t := range w.Tensors {
		for _, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return false
			}
		}
	}
	return true
}

// sgd is SGD with momentum and weight decay, as PyTorch's torch.optim.SGD:
// d = g + decay*w; v = momentum*v + d; w -= lr*v. Velocities start at zero
// for every child.
type sgd struct {
	momentum, decay float32
	params          []sgdParam
}

type sgdParam struct {
	w, v  []float32
	grad  func() []float32
	decay bool
}

func newSGD(m *model, gr *graph, cfg *Config) *sgd {
	s := &sgd{momentum: float32(cfg.Momentum), decay: float32(cfg.WeightDecay)}
	for _, k := range m.weights.Keys() {
		gn, ok := gr.grads[k]
		if !ok || !m.train[k] {
			continue
		}
		w := m.weights.Tensors[k].Data
		s.params = append(s.params, sgdParam{
			w: w, v: make([]float32, len(w)), decay: m.decay[k],
			grad: func() []float32 { return f32s(gn.Value()) },
		})
	}
	return s
}

func (s *sgd) step(lr float64) {
	l := float32(lr)
	for _, p := range s.params {
		g := p.grad()
		decay := float32(0)
		if p.decay {
			decay = s.decay
		}
		for i, w := range p.w {
			v := s.momentum*p.v[i] + g[i] + decay*w
			p.v[i] = v
			p.w[i] = w - l*v
		}
	}
}

// EstimateMemory estimates the bytes that building and training g's
// network takes: activations and their gradients for a training batch,
// batch-norm's saved inputs, the conv workspaces, three copies of the
// parameters (values, gradients, velocities), and the evaluation graph's
// activations. The data set is not counted.
func EstimateMemory(g *dna.Genome, r *dna.Resolved, cfg *Config) int64 {
	var act int64 // floats per image of every node's output
	for j, e := range g.Edges {
		to := g.VertexIndex(e.To)
		if e.Type == dna.Conv {
			act += r.EdgeShape[j].Size()
		}
		if r.EdgeShape[j] != r.VertexShape[to] {
			act += r.VertexShape[to].Size()
		}
	}
	for i, v := range g.Vertices {
		if len(r.In[i]) > 1 {
			act += r.VertexShape[i].Size()
		}
		if v.Type == dna.BNReLU {
			act += 2 * r.VertexShape[i].Size() // output and saved xhat
		}
	}
	act += int64(g.Input.H*g.Input.W*g.Input.C) + int64(g.Classes)*4
	train := 2 * act * int64(cfg.BatchSize) // values and gradients
	eval := act * int64(cfg.EvalBatch)
	ws := workspaceFloats(g, r, cfg.BatchSize, cfg.CPUThreads()) + workspaceFloats(g, r, cfg.EvalBatch, cfg.CPUThreads())
	params := 3 * g.Params()
	return 4 * (train + eval + ws + params)
}
