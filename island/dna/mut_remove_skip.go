package dna

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// removeSkip removes a random skip connection: an edge that is not on the
// backbone.
func removeSkip(g *Genome, rng *rand.Rand, _ *MutateOptions) (string, error) {
	_, bb, err := g.Backbone()
	if err != nil {
		return "", err
	}
	var skips []uint32
	for _, e := range g.Edges {
		if !slices.Contains(bb, e.ID) && g.Vertex(e.From).OutputsMutable && g.Vertex(e.To).InputsMutable {
			skips = append(skips, e.ID)
		}
	}
	if len(skips) == 0 {
		return "", errNotApplicable
	}
	id := pick(rng, skips)
	e := *g.Edge(id)
	g.Edges = slices.DeleteFunc(g.Edges, func(x Edge) bool { return x.ID == id })
	return fmt.Sprintf("removed skip edge %d: %d->%d", id, e.From, e.To), nil
}
