package dna

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// removeConvolution removes a random backbone conv u->v by merging its two
// ends. Normally v merges into u: skips into v are dropped and v's outputs
// move to u. When v is the output vertex, u merges into v instead, so the
// output vertex survives: u's inputs move to v. A conv straight from the
// input to the output cannot be removed.
func removeConvolution(g *Genome, rng *rand.Rand, _ *MutateOptions) (string, error) {
	_, bb, err := g.Backbone()
	if err != nil {
		return "", err
	}
	var cands []uint32
	for _, id := range bb {
		e := g.Edge(id)
		if e.Type != Conv || (e.From == g.InputVertex && e.To == g.OutputVertex) {
			continue
		}
		if g.Vertex(e.From).OutputsMutable && g.Vertex(e.To).InputsMutable {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		return "", errNotApplicable
	}
	id := pick(rng, cands)
	conv := *g.Edge(id)
	keep, gone := conv.From, conv.To
	if gone == g.OutputVertex {
		keep, gone = conv.To, conv.From
	}
	edges := g.Edges[:0]
	for _, e := range g.Edges {
		switch {
		case e.ID == id:
			continue
		case gone == conv.To && e.To == gone:
			continue // skips into the removed target are dropped
		case gone == conv.From && e.From == gone:
			continue // the removed source has no other outputs worth keeping: none reach past the output
		}
		if e.From == gone {
			e.From = keep
		}
		if e.To == gone {
			e.To = keep
		}
		edges = append(edges, e)
	}
	g.Edges = dedupeEdges(edges)
	g.Vertices = slices.DeleteFunc(g.Vertices, func(v Vertex) bool { return v.ID == gone })
	return fmt.Sprintf("removed conv edge %d (%d->%d), vertex %d merged into %d", id, conv.From, conv.To, gone, keep), nil
}

// dedupeEdges drops self-loops and, of edges that now join the same pair of
// vertices, keeps the one with the highest precedence (the backbone edge).
func dedupeEdges(edges []Edge) []Edge {
	best := make(map[[2]uint32]int, len(edges))
	for i, e := range edges {
		if e.From == e.To {
			continue
		}
		k := [2]uint32{e.From, e.To}
		j, seen := best[k]
		if !seen || e.ScalePrecedence > edges[j].ScalePrecedence ||
			(e.ScalePrecedence == edges[j].ScalePrecedence && e.DepthPrecedence > edges[j].DepthPrecedence) {
			best[k] = i
		}
	}
	out := edges[:0:0]
	for i, e := range edges {
		if e.From != e.To && best[[2]uint32{e.From, e.To}] == i {
			out = append(out, e)
		}
	}
	return out
}
