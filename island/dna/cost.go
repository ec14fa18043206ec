package dna

import "math"

// Cost accounting, from the genome alone.
//
// Parameters: a conv has in*out*kh*kw weights (no bias); a BN_RELU vertex
// has a scale and an offset per channel (its running statistics are state,
// not parameters); the fully connected layer has C*classes weights and
// classes biases.
//
// Forward FLOPs per image count 2 per multiply-add: a conv costs
// 2*outH*outW*out*in*kh*kw; summing k inputs at a vertex costs (k-1) per
// element; batch norm costs 2 per element (scale and shift) and ReLU 1;
// global average pooling costs 1 per element of the output vertex; the fully
// connected layer costs 2*C*classes plus the biases; softmax costs 3 per class.

// Params returns the number of trainable parameters, or -1 if the genome
// does not resolve.
func (g *Genome) Params() int64 {
	r, err := g.Resolve()
	if err != nil {
		return -1
	}
	return g.params(r)
}

// FLOPs returns the forward FLOPs for one image, or -1 if the genome does not
// resolve.
func (g *Genome) FLOPs() int64 {
	r, err := g.Resolve()
	if err != nil {
		return -1
	}
	return g.flops(r)
}

// The sums are taken in float64, exact below 2^53, so that a hostile genome
// cannot overflow them into a small number; results saturate at MaxInt64.

func (g *Genome) params(r *Resolved) int64 {
	var p float64
	for j, e := range g.Edges {
		if e.Type == Conv {
			in := r.VertexShape[g.vertexIndex(e.From)].C
			p += float64(in) * float64(r.EdgeShape[j].C) * float64(e.FilterH) * float64(e.FilterW)
		}
	}
	for i, v := range g.Vertices {
		if v.Type == BNReLU {
			p += 2 * float64(r.VertexShape[i].C)
		}
	}
	c := float64(r.VertexShape[g.vertexIndex(g.OutputVertex)].C)
	return saturate(p + c*float64(g.Classes) + float64(g.Classes))
}

func (g *Genome) flops(r *Resolved) int64 {
	var f float64
	for j, e := range g.Edges {
		if e.Type == Conv {
			in := float64(r.VertexShape[g.vertexIndex(e.From)].C)
			s := r.EdgeShape[j]
			f += 2 * float64(s.H) * float64(s.W) * float64(s.C) * in * float64(e.FilterH) * float64(e.FilterW)
		}
	}
	for i, v := range g.Vertices {
		size := float64(r.VertexShape[i].Size())
		if k := len(r.In[i]); k > 1 {
			f += float64(k-1) * size
		}
		if v.Type == BNReLU {
			f += 3 * size
		}
	}
	out := r.VertexShape[g.vertexIndex(g.OutputVertex)]
	classes := float64(g.Classes)
	return saturate(f + float64(out.Size()) + 2*float64(out.C)*classes + classes + 3*classes)
}

func saturate(x float64) int64 {
	if x >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(x)
}
