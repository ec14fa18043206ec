package train

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/evoswarm/evoswarm/train/device"
)

// DeviceNetwork is a genome's network on a device (a GPU): the same network
// that Network builds for the CPU, with the same tensors under the same
// keys, trained by the same SGD, run as explicit forward and backward passes
// over the device's GEMM and kernels instead of a gorgonia graph.
// Activations are in CNHW order. Weights move to the device when the
// network is built and back with Weights, so inheritance and migration
// never see the device.
//
// A DeviceNetwork must be used between the device's Begin and its end.
type DeviceNetwork struct {
	cfg   Config
	dev   device.Device
	m     *model
	inh   Inheritance
	g     *dna.Genome
	r     *dna.Resolved
	order []string // tensor keys, sorted

	w, grad, vel map[string]device.Buf
	passes       map[int]*pass // by batch size; the training pass has train set
	bufs         []device.Buf  // every allocation, for Close
	err          error
}

// NewDeviceNetwork builds g's network on dev with every tensor taken from w,
// like NewNetwork. The caller must hold dev (Begin) while using it.
func NewDeviceNetwork(g *dna.Genome, w *Weights, cfg Config, dev device.Device) (*DeviceNetwork, error) {
	r, err := resolveWithin(g, &cfg, forTraining)
	if err != nil {
		return nil, err
	}
	return openDeviceNetwork(g, r, w, &cfg, dev)
}

// openDeviceNetwork is NewDeviceNetwork for a genome already checked.
func openDeviceNetwork(g *dna.Genome, r *dna.Resolved, w *Weights, cfg *Config, dev device.Device) (*DeviceNetwork, error) {
	n, err := newDeviceNetwork(g, r, w, cfg, dev, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, err
	}
	if err := n.inh.fits(g); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// newDeviceNetwork lays out the model exactly as the CPU engine does (same
// keys, same initialisation from rng) and uploads it.
func newDeviceNetwork(g *dna.Genome, r *dna.Resolved, parent *Weights, cfg *Config, dev device.Device, rng *rand.Rand) (*DeviceNetwork, error) {
	m, inh := newModel(g, r, parent, cfg, rng)
	n := &DeviceNetwork{
		cfg: *cfg, dev: dev, m: m, inh: inh, g: g, r: r, order: m.weights.Keys(),
		w: map[string]device.Buf{}, grad: map[string]device.Buf{}, vel: map[string]device.Buf{},
		passes: map[int]*pass{},
	}
	for _, k := range n.order {
		t := m.weights.Tensors[k]
		b := n.alloc(len(t.Data))
		if n.err != nil {
			n.Close()
			return nil, n.err
		}
		if err := dev.Upload(b, t.Data); err != nil {
			n.Close()
			return nil, err
		}
		n.w[k] = b
	}
	return n, nil
}

func (n *DeviceNetwork) alloc(size int) device.Buf {
	if n.err != nil {
		return nil
	}
	b, err := n.dev.Alloc(max(size, 1))
	if err != nil {
		n.err = fmt.Errorf("train: %s: allocating %d MiB: %w", n.dev.Name(), (int64(size)*4)>>20, err)
		return nil
	}
	n.bufs = append(n.bufs, b)
	return b
}

// Inheritance reports which tensors came from the parent.
func (n *DeviceNetwork) Inheritance() Inheritance { return n.inh }

// Close frees the network's device memory.
func (n *DeviceNetwork) Close() {
	for _, b := range n.bufs {
		n.dev.Free(b)
	}
	n.bufs = nil
	n.passes = map[int]*pass{}
}

// Weights copies the tensors back from the device and returns them.
func (n *DeviceNetwork) Weights() (*Weights, error) {
	for _, k := range n.order {
		if err := n.dev.Download(n.m.weights.Tensors[k].Data, n.w[k]); err != nil {
			return nil, fmt.Errorf("train: %s: %w", n.dev.Name(), err)
		}
	}
	return n.m.weights, nil
}

// TrainStep runs one SGD step on a batch of Config.BatchSize images (NCHW,
// normalised) and labels, and returns the batch loss before the update. A
// NaN or infinite loss is returned as it is, and the update is skipped.
func (n *DeviceNetwork) TrainStep(x []float32, labels []int32) (float64, error) {
	p, err := n.getPass(n.cfg.BatchSize, true)
	if err != nil {
		return 0, err
	}
	if len(x) != p.xin.Len() || len(labels) != p.batch {
		return 0, fmt.Errorf("train: batch of %d values and %d labels, want %d and %d", len(x), len(labels), p.xin.Len(), p.batch)
	}
	if err := n.dev.Upload(p.xin, x); err != nil {
		return 0, n.devErr(err)
	}
	if err := n.dev.UploadInt32(p.labels, labels); err != nil {
		return 0, n.devErr(err)
	}
	return n.step(p)
}

func (n *DeviceNetwork) devErr(err error) error {
	return fmt.Errorf("train: %s: %w", n.dev.Name(), err)
}

// step runs forward, loss, backward and the update on the batch in place.
func (n *DeviceNetwork) step(p *pass) (float64, error) {
	d := n.dev
	n.forward(p)
	d.SoftmaxXent(p.logits, p.labels, p.loss, p.dLogits, n.g.Classes, p.batch)
	if len(p.host) < p.batch {
		p.host = make([]float32, p.batch)
	}
	losses := p.host[:p.batch]
	if err := d.Download(losses, p.loss); err != nil {
		return 0, n.devErr(err)
	}
	var loss float64
	for _, l := range losses {
		loss += float64(l)
	}
	loss /= float64(p.batch)
	if loss-loss != 0 { // NaN or infinite: no update
		return loss, nil
	}
	n.backward(p)
	lr, mom, decay := float32(n.g.LearningRate), float32(n.cfg.Momentum), float32(n.cfg.WeightDecay)
	for _, k := range n.order {
		if !n.m.train[k] {
			continue
		}
		dk := float32(0)
		if n.m.decay[k] {
			dk = decay
		}
		d.SGD(n.w[k], n.vel[k], n.grad[k], n.w[k].Len(), lr, mom, dk)
	}
	return loss, nil
}

// Logits runs the network in inference mode (batch norm on its running
// statistics) on a batch of images (NCHW) and returns the logits (batch x
// classes), as Network.Logits does.
func (n *DeviceNetwork) Logits(x []float32, batch int) ([]float32, error) {
	p, err := n.getPass(batch, false)
	if err != nil {
		return nil, err
	}
	if len(x) != p.xin.Len() {
		return nil, fmt.Errorf("train: batch of %d values, want %d", len(x), p.xin.Len())
	}
	if err := n.dev.Upload(p.xin, x); err != nil {
		return nil, n.devErr(err)
	}
	n.forward(p)
	k := n.g.Classes
	cm := make([]float32, k*batch) // classes x batch
	if err := n.dev.Download(cm, p.logits); err != nil {
		return nil, n.devErr(err)
	}
	out := make([]float32, k*batch)
	for c := range k {
		for i := range batch {
			out[i*k+c] = cm[c*batch+i]
		}
	}
	return out, nil
}

// predict runs the network in inference mode over a split in batches and
// returns the most likely class of every image; a short last batch is
// padded and its padding ignored.
func (n *DeviceNetwork) predict(ctx context.Context, data *dataset.Set, split *dataset.Split, batch int) ([]int32, error) {
	pred := make([]int32, 0, split.N)
	idx := make([]int, batch)
	in := n.g.Input
	x := make([]float32, batch*in.C*in.H*in.W)
	lb := make([]int32, batch)
	for lo := 0; lo < split.N; lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		nb := min(batch, split.N-lo)
		for i := range idx {
			idx[i] = lo + min(i, nb-1)
		}
		if err := data.Batch(split, idx, dataset.Augment{}, nil, x, lb); err != nil {
			return nil, err
		}
		logits, err := n.Logits(x, batch)
		if err != nil {
			return nil, err
		}
		k := n.g.Classes
		for i := range nb {
			pred = append(pred, int32(argmax(logits[i*k:(i+1)*k])))
		}
	}
	return pred, nil
}

func (n *DeviceNetwork) accuracy(ctx context.Context, data *dataset.Set, split *dataset.Split, batch int) (float64, error) {
	if split.N == 0 {
		return 0, nil
	}
	pred, err := n.predict(ctx, data, split, batch)
	if err != nil {
		return 0, err
	}
	return accuracyOf(pred, split), nil
}

// deviceEngine is Train's engine on a device: it holds the device (Begin)
// from its creation to close.
type deviceEngine struct {
	net    *DeviceNetwork
	end    func()
	x      []float32
	labels []int32
}

func newDeviceEngine(g *dna.Genome, r *dna.Resolved, parent *Weights, cfg *Config, dev device.Device, rng *rand.Rand) (engine, error) {
	end, err := dev.Begin()
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", dev.Name(), err)
	}
	net, err := newDeviceNetwork(g, r, parent, cfg, dev, rng)
	if err != nil {
		end()
		return nil, err
	}
	return &deviceEngine{net: net, end: end}, nil
}

func (e *deviceEngine) inheritance() Inheritance { return e.net.inh }

func (e *deviceEngine) batch() ([]float32, []int32, error) {
	p, err := e.net.getPass(e.net.cfg.BatchSize, true)
	if err != nil {
		return nil, nil, err
	}
	e.x, e.labels = make([]float32, p.xin.Len()), make([]int32, p.batch)
	return e.x, e.labels, nil
}

func (e *deviceEngine) trainStep() (float64, error) { return e.net.TrainStep(e.x, e.labels) }

func (e *deviceEngine) weights() (*Weights, error) { return e.net.Weights() }

func (e *deviceEngine) accuracy(ctx context.Context, data *dataset.Set, split *dataset.Split, batch int) (float64, error) {
	return e.net.accuracy(ctx, data, split, batch)
}

func (e *deviceEngine) predict(ctx context.Context, data *dataset.Set, split *dataset.Split, batch int) ([]int32, error) {
	return e.net.predict(ctx, data, split, batch)
}

func (e *deviceEngine) close() {
	e.net.Close()
	e.end()
}
