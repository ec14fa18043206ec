package train

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
