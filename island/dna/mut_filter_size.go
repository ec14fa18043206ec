package dna

import (
	"fmt"
	"math/rand/v2"
)

// filterSize changes a random conv's filter height or width (at random) by
// 2, keeping it odd and within [1, Bounds.MaxFilter].
func filterSize(g *Genome, rng *rand.Rand, o *MutateOptions) (string, error) {
	convs := g.convEdges()
	if len(convs) == 0 || o.Bounds.MaxFilter < 3 {
		return "", errNotApplicable
	}
	e := &g.Edges[pick(rng, convs)]
	dim, name := &e.FilterH, "height"
	if rng.IntN(2) == 0 {
		dim, name = &e.FilterW, "width"
	}
	old := *dim
	switch {
	case old <= 1:
		*dim += 2
	case old+2 > o.Bounds.MaxFilter:
		*dim -= 2
	case rng.IntN(2) == 0:
		*dim += 2
	default:
		*dim -= 2
	}
	return fmt.Sprintf("edge %d: filter %s %d -> %d", e.ID, name, old, *dim), nil
}
