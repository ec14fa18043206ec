package dna

import (
	"fmt"
	"math/rand/v2"
)

// addSkip adds an identity edge between two backbone vertices a and b, a
// before b, that are not yet joined. Following the backbone's order keeps
// the graph acyclic. The skip has the lowest precedence, so b's shape stays
// fixed by its backbone input and the skip is resized to it.
func addSkip(g *Genome, rng *rand.Rand, _ *MutateOptions) (string, error) {
	bv, _, err := g.Backbone()
	if err != nil {
		return "", err
	}
	joined := make(map[[2]uint32]bool, len(g.Edges))
	for _, e := range g.Edges {
		joined[[2]uint32{e.From, e.To}] = true
	}
	var pairs [][2]uint32
	for i, a := range bv {
		if !g.Vertex(a).OutputsMutable {
			continue
		}
		for _, b := range bv[i+1:] {
			if g.Vertex(b).InputsMutable && !joined[[2]uint32{a, b}] {
				pairs = append(pairs, [2]uint32{a, b})
			}
		}
	}
	if len(pairs) == 0 {
		return "", errNotApplicable
	}
	p := pick(rng, pairs)
	id := g.newID()
	g.Edges = append(g.Edges, Edge{
		ID: id, From: p[0], To: p[1], Type: Identity,
		DepthPrecedence: SkipPrecedence, ScalePrecedence: SkipPrecedence,
	})
	return fmt.Sprintf("skip edge %d: %d->%d", id, p[0], p[1]), nil
}
