package dna

import (
	"fmt"
	"math/rand/v2"
)

// insertConvolution splits a random backbone edge u->w into u->n, a new 3x3
// conv with stride 1 or 2 at random, and n->w, the old edge, which keeps its
// ID and so its weights. The new vertex n is BN_RELU or LINEAR at random.
// The conv keeps u's channel count (the paper), raised to
// o.InsertMinChannels when that is set.
func insertConvolution(g *Genome, rng *rand.Rand, o *MutateOptions) (string, error) {
	e, u, err := splitBackbone(g, rng)
	if err != nil {
		return "", err
	}
	r, err := g.Resolve()
	if err != nil {
		return "", err
	}
	ch := max(r.VertexShape[g.vertexIndex(u)].C, o.InsertMinChannels)
	stride := rng.IntN(2)
	n := g.addVertex(rng)
	conv := Edge{
		ID: g.newID(), From: u, To: n, Type: Conv,
		Channels: ch, FilterH: 3, FilterW: 3, StrideLog2: stride,
		DepthPrecedence: BackbonePrecedence, ScalePrecedence: BackbonePrecedence,
	}
	conv.WeightID = g.newID()
	g.Edges = append(g.Edges, conv)
	g.Edge(e).From = n
	return fmt.Sprintf("conv 3x3 %d channels stride %d on %d->%d before edge %d (vertex %d %s)",
		ch, 1<<stride, u, n, e, n, g.Vertex(n).Type), nil
}

// splitBackbone picks a backbone edge whose ends may be mutated and returns
// its ID and its source vertex.
func splitBackbone(g *Genome, rng *rand.Rand) (edge, from uint32, err error) {
	_, bb, err := g.Backbone()
	if err != nil {
		return 0, 0, err
	}
	var ok []uint32
	for _, id := range bb {
		e := g.Edge(id)
		if g.Vertex(e.From).OutputsMutable && g.Vertex(e.To).InputsMutable {
			ok = append(ok, id)
		}
	}
	if len(ok) == 0 {
		return 0, 0, errNotApplicable
	}
	id := pick(rng, ok)
	return id, g.Edge(id).From, nil
}

// addVertex appends a new mutable vertex, BN_RELU or LINEAR at random, and
// returns its ID.
func (g *Genome) addVertex(rng *rand.Rand) uint32 {
	v := Vertex{ID: g.newID(), Type: Linear, InputsMutable: true, OutputsMutable: true}
	if rng.IntN(2) == 0 {
		v.Type = BNReLU
		v.WeightID = g.newID()
	}
	g.Vertices = append(g.Vertices, v)
	return v.ID
}
