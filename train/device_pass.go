package train

import (
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/device"
)

// pass holds the activations of one batch size.
type pass struct {
	batch                           int
	train                           bool
	xin                             device.Buf   // input batch, NCHW
	val                             []device.Buf // vertex outputs, CNHW
	pre                             []device.Buf // BN vertices' inputs (their summed terms)
	conv                            []device.Buf // conv edges' outputs
	rec                             []device.Buf // reconciled edge outputs (nil where the shapes match)
	mean                            []device.Buf // BN vertices' batch mean (training) or running mean
	invStd                          []device.Buf
	gval                            []device.Buf // gradients of vertex outputs (training)
	pooled, logits                  device.Buf
	labels, loss, dLogits, dPooled  device.Buf
	sum, sq, part                   device.Buf // per-channel scratch
	ones                            device.Buf
	scratchA, scratchB, cols, dcols device.Buf
	colsFloats                      int
	needGrad                        []bool // vertex output depends on a parameter
	host                            []float32
}

// getPass returns the activations for a batch size, allocating them on first
// use. The training pass also holds gradients.
func (n *DeviceNetwork) getPass(batch int, train bool) (*pass, error) {
	key := batch
	if train {
		key = -batch
	}
	if p, ok := n.passes[key]; ok {
		return p, nil
	}
	g, r := n.g, n.r
	nv := len(g.Vertices)
	p := &pass{
		batch: batch, train: train,
		val: make([]device.Buf, nv), pre: make([]device.Buf, nv),
		mean: make([]device.Buf, nv), invStd: make([]device.Buf, nv),
		conv: make([]device.Buf, len(g.Edges)), rec: make([]device.Buf, len(g.Edges)),
		needGrad: make([]bool, nv),
	}
	in := g.Input
	p.xin = n.alloc(batch * in.C * in.H * in.W)
	var maxAct, maxC, maxP, maxPart int
	for _, i := range r.Order {
		s := r.VertexShape[i]
		size := batch * int(s.Size())
		maxAct, maxC, maxP = max(maxAct, size), max(maxC, s.C), max(maxP, batch*s.H*s.W)
		p.val[i] = n.alloc(size)
		if g.Vertices[i].Type == dna.BNReLU {
			maxPart = max(maxPart, device.PartFloats(s.C, batch*s.H*s.W))
			p.pre[i] = n.alloc(size)
			p.mean[i] = n.alloc(s.C)
			p.invStd[i] = n.alloc(s.C)
		}
		for _, j := range r.In[i] {
			e := &g.Edges[j]
			es := r.EdgeShape[j]
			if e.Type == dna.Conv {
				p.conv[j] = n.alloc(batch * int(es.Size()))
				c := n.convGeom(j, batch)
				if !pointwise(c) {
					p.colsFloats = max(p.colsFloats, c.K()*chunk(c)*c.OH*c.OW)
				}
				maxAct = max(maxAct, batch*int(es.Size()))
			}
			if es != s {
				p.rec[j] = n.alloc(size)
			}
		}
	}
	out := r.VertexShape[g.VertexIndex(g.OutputVertex)]
	p.pooled = n.alloc(out.C * batch)
	p.logits = n.alloc(g.Classes * batch)
	p.ones = n.alloc(max(maxP, out.H*out.W, batch))
	p.sum = n.alloc(maxC)
	p.sq = n.alloc(maxC)
	p.part = n.alloc(maxPart)
	p.scratchA = n.alloc(maxAct)
	if p.colsFloats > 0 {
		p.cols = n.alloc(p.colsFloats)
	}
	if train {
		p.labels = n.alloc(batch)
		p.loss = n.alloc(batch)
		p.dLogits = n.alloc(g.Classes * batch)
		p.dPooled = n.alloc(out.C * batch)
		p.scratchB = n.alloc(maxAct)
		if p.colsFloats > 0 {
			p.dcols = n.alloc(p.colsFloats)
		}
		p.gval = make([]device.Buf, nv)
		for _, i := range r.Order {
			p.gval[i] = n.alloc(batch * int(r.VertexShape[i].Size()))
		}
		for _, k := range n.order {
			if n.m.train[k] && n.grad[k] == nil {
				size := len(n.m.weights.Tensors[k].Data)
				n.grad[k], n.vel[k] = n.alloc(size), n.alloc(size)
			}
		}
	}
	if n.err != nil {
		return nil, n.err
	}
	n.dev.Fill(p.ones, p.ones.Len(), 1)
	for _, i := range r.Order {
		if g.Vertices[i].ID == g.InputVertex {
			continue
		}
		for _, j := range r.In[i] {
			src := g.VertexIndex(g.Edges[j].From)
			p.needGrad[i] = p.needGrad[i] || p.needGrad[src] || g.Edges[j].Type == dna.Conv
		}
		p.needGrad[i] = p.needGrad[i] || g.Vertices[i].Type == dna.BNReLU
	}
	n.passes[key] = p
	return p, nil
}

// convGeom is edge j's convolution for a batch.
func (n *DeviceNetwork) convGeom(j, batch int) device.ConvGeom {
	e := &n.g.Edges[j]
	src := n.r.VertexShape[n.g.VertexIndex(e.From)]
	out := n.r.EdgeShape[j]
	return device.ConvGeom{
		N: batch, C: src.C, H: src.H, W: src.W,
		KH: e.FilterH, KW: e.FilterW, Stride: e.Stride(),
		PadH: (e.FilterH - 1) / 2, PadW: (e.FilterW - 1) / 2,
		OH: out.H, OW: out.W,
	}
}

// pointwise reports whether a conv is a plain matrix product (1x1, stride
// 1), which needs no im2col.
func pointwise(c device.ConvGeom) bool { return c.KH == 1 && c.KW == 1 && c.Stride == 1 }

// maxColsFloats caps the im2col workspace; a convolution whose batch needs
// more runs in chunks of images.
var maxColsFloats = 1 << 25 // 128 MiB; a variable for tests

// chunk is the number of images per im2col chunk of c.
func chunk(c device.ConvGeom) int {
	per := c.K() * c.OH * c.OW
	return max(1, min(c.N, maxColsFloats/max(per, 1)))
}

// forward runs the network on the batch in p.xin and leaves the logits in
// p.logits (classes x batch).
func (n *DeviceNetwork) forward(p *pass) {
	d, g, r, b := n.dev, n.g, n.r, p.batch
	in := g.Input
	for _, i := range r.Order {
		v := &g.Vertices[i]
		if v.ID == g.InputVertex {
			d.ToCNHW(p.xin, p.val[i], b, in.C, in.H*in.W)
			continue
		}
		s := r.VertexShape[i]
		size := b * int(s.Size())
		dst := p.val[i]
		if v.Type == dna.BNReLU {
			dst = p.pre[i]
		}
		for t, j := range r.In[i] {
			term := n.edgeForward(p, j)
			if p.rec[j] != nil {
				es := r.EdgeShape[j]
				d.Reconcile(term, p.rec[j], b, es.C, es.H, es.W, s.C, s.H, s.W)
				term = p.rec[j]
			}
			if t == 0 {
				d.Copy(dst, term)
			} else {
				d.Add(dst, term, size)
			}
		}
		if v.Type == dna.BNReLU {
			n.bnForward(p, i)
		}
	}
	out := g.VertexIndex(g.OutputVertex)
	s := r.VertexShape[out]
	hw := s.H * s.W
	// Global average pool: (C*batch) rows of hw values times ones/hw.
	d.Gemm(false, false, s.C*b, 1, hw, 1/float32(hw), p.val[out], hw, p.ones, 1, 0, p.pooled, 1)
	k := g.Classes
	d.Gemm(false, false, k, b, s.C, 1, n.w[fcKey(g.FCWeightID, "weight")], s.C, p.pooled, b, 0, p.logits, b)
	d.AddBias(p.logits, n.w[fcKey(g.FCWeightID, "bias")], k, b)
}

// edgeForward returns edge j's output: its source's value, or the
// convolution of it.
func (n *DeviceNetwork) edgeForward(p *pass, j int) device.Buf {
	d, e := n.dev, &n.g.Edges[j]
	x := p.val[n.g.VertexIndex(e.From)]
	if e.Type != dna.Conv {
		return x
	}
	c := n.convGeom(j, p.batch)
	w, y := n.w[convKey(e.WeightID)], p.conv[j]
	np, cout := c.N*c.OH*c.OW, n.r.EdgeShape[j].C
	if pointwise(c) {
		d.Gemm(false, false, cout, np, c.C, 1, w, c.C, x, np, 0, y, np)
		return y
	}
	per := c.OH * c.OW
	for n0 := 0; n0 < c.N; n0 += chunk(c) {
		nb := min(chunk(c), c.N-n0)
		d.Im2col(x, p.cols, c, n0, nb)
		d.Gemm(false, false, cout, nb*per, c.K(), 1, w, c.K(), p.cols, nb*per, 0, d.View(y, n0*per, y.Len()-n0*per), np)
	}
	return y
}

// bnForward normalises vertex i's summed input p.pre[i] into p.val[i]: with
// the batch's statistics (updating the running ones) in training, with the
// running statistics otherwise.
func (n *DeviceNetwork) bnForward(p *pass, i int) {
	d, v := n.dev, &n.g.Vertices[i]
	s := n.r.VertexShape[i]
	c, np := s.C, p.batch*s.H*s.W
	eps := float32(n.cfg.BNEpsilon)
	scale, offset := n.w[bnKey(v.WeightID, "scale")], n.w[bnKey(v.WeightID, "offset")]
	runMean, runVar := n.w[bnKey(v.WeightID, "mean")], n.w[bnKey(v.WeightID, "var")]
	if !p.train {
		d.BNInferStats(runVar, p.invStd[i], c, eps)
		d.BNReLU(p.pre[i], runMean, p.invStd[i], scale, offset, p.val[i], c, np)
		return
	}
	d.ChannelSum(p.pre[i], p.part, p.sum, c, np, 1)
	d.BNCenterSq(p.pre[i], p.sum, p.scratchA, c, np)
	d.ChannelSum(p.scratchA, p.part, p.sq, c, np, 1)
	d.BNFinalize(p.sum, p.sq, p.mean[i], p.invStd[i], runMean, runVar, c, np, float32(n.cfg.BNMomentum), eps)
	d.BNReLU(p.pre[i], p.mean[i], p.invStd[i], scale, offset, p.val[i], c, np)
}

// backward computes every trainable tensor's gradient from p.dLogits,
// after forward on the same batch.
func (n *DeviceNetwork) backward(p *pass) {
	d, g, r, b := n.dev, n.g, n.r, p.batch
	for _, i := range r.Order {
		d.Fill(p.gval[i], p.gval[i].Len(), 0)
	}
	out := g.VertexIndex(g.OutputVertex)
	s := r.VertexShape[out]
	k, hw := g.Classes, s.H*s.W
	fcw := n.w[fcKey(g.FCWeightID, "weight")]
	d.Gemm(false, true, k, s.C, b, 1, p.dLogits, b, p.pooled, b, 0, n.grad[fcKey(g.FCWeightID, "weight")], s.C)
	d.Gemm(false, false, k, 1, b, 1, p.dLogits, b, p.ones, 1, 0, n.grad[fcKey(g.FCWeightID, "bias")], 1)
	d.Gemm(true, false, s.C, b, k, 1, fcw, s.C, p.dLogits, b, 0, p.dPooled, b)
	d.GAPBackward(p.dPooled, p.gval[out], s.C*b, hw)
	for o := len(r.Order) - 1; o >= 0; o-- {
		i := r.Order[o]
		v := &g.Vertices[i]
		if v.ID == g.InputVertex {
			continue
		}
		vs := r.VertexShape[i]
		gpre := p.gval[i]
		if v.Type == dna.BNReLU {
			gpre = p.scratchA
			n.bnBackward(p, i, gpre)
		}
		for _, j := range r.In[i] {
			e := &g.Edges[j]
			src := g.VertexIndex(e.From)
			if e.Type != dna.Conv && !p.needGrad[src] {
				continue
			}
			es := r.EdgeShape[j]
			gedge := gpre
			if p.rec[j] != nil {
				gedge = p.scratchB
				d.Fill(gedge, b*int(es.Size()), 0)
				d.ReconcileBackward(gpre, gedge, b, es.C, es.H, es.W, vs.C, vs.H, vs.W)
			}
			if e.Type == dna.Conv {
				n.convBackward(p, j, gedge, p.needGrad[src])
			} else {
				// An identity edge's output is its source's value.
				d.Add(p.gval[src], gedge, b*int(es.Size()))
			}
		}
	}
}

// bnBackward writes into gpre the gradient of vertex i's summed input, and
// the gradients of its scale and offset, from p.gval[i].
func (n *DeviceNetwork) bnBackward(p *pass, i int, gpre device.Buf) {
	d, v := n.dev, &n.g.Vertices[i]
	s := n.r.VertexShape[i]
	c, np := s.C, p.batch*s.H*s.W
	dScale, dOffset := n.grad[bnKey(v.WeightID, "scale")], n.grad[bnKey(v.WeightID, "offset")]
	// g1 goes to scratchB and g2 to gpre (scratchA), both free until the
	// terms are visited.
	g1, g2 := p.scratchB, gpre
	d.BNBackwardPrep(p.gval[i], p.val[i], p.pre[i], p.mean[i], p.invStd[i], g1, g2, c, np)
	d.ChannelSum(g2, p.part, dScale, c, np, 1)
	d.ChannelSum(g1, p.part, dOffset, c, np, 1)
	d.Fill(gpre, c*np, 0)
	d.BNBackwardData(g1, p.pre[i], p.mean[i], p.invStd[i], n.w[bnKey(v.WeightID, "scale")], dScale, dOffset, gpre, c, np)
}

// convBackward computes conv edge j's kernel gradient from gy, the gradient
// of its output, and adds the gradient of its input to its source's when
// needed.
func (n *DeviceNetwork) convBackward(p *pass, j int, gy device.Buf, needInput bool) {
	d, e := n.dev, &n.g.Edges[j]
	src := n.g.VertexIndex(e.From)
	c := n.convGeom(j, p.batch)
	x, w, dw := p.val[src], n.w[convKey(e.WeightID)], n.grad[convKey(e.WeightID)]
	np, cout := c.N*c.OH*c.OW, n.r.EdgeShape[j].C
	if pointwise(c) {
		d.Gemm(false, true, cout, c.C, np, 1, gy, np, x, np, 0, dw, c.C)
		if needInput {
			d.Gemm(true, false, c.C, np, cout, 1, w, c.C, gy, np, 1, p.gval[src], np)
		}
		return
	}
	per := c.OH * c.OW
	for n0 := 0; n0 < c.N; n0 += chunk(c) {
		nb := min(chunk(c), c.N-n0)
		gv := d.View(gy, n0*per, gy.Len()-n0*per)
		d.Im2col(x, p.cols, c, n0, nb)
		beta := float32(1)
		if n0 == 0 {
			beta = 0
		}
		d.Gemm(false, true, cout, c.K(), nb*per, 1, gv, np, p.cols, nb*per, beta, dw, c.K())
		if needInput {
			d.Gemm(true, false, c.K(), nb*per, cout, 1, w, c.K(), gv, np, 0, p.dcols, nb*per)
			d.Col2im(p.dcols, p.gval[src], c, n0, nb)
		}
	}
}
