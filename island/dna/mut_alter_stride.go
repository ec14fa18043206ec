package dna

import (
	"fmt"
	"math/rand/v2"
)

// alterStride moves a random conv's stride one power of two up or down,
// within [1, 2^Bounds.MaxStrideLog2].
func alterStride(g *Genome, rng *rand.Rand, o *MutateOptions) (string, error) {
	convs := g.convEdges()
	if len(convs) == 0 || o.Bounds.MaxStrideLog2 == 0 {
		return "", errNotApplicable
	}
	e := &g.Edges[pick(rng, convs)]
	old := e.Stride()
	switch {
	case e.StrideLog2 == 0:
		e.StrideLog2++
	case e.StrideLog2 >= o.Bounds.MaxStrideLog2:
		e.StrideLog2--
	case rng.IntN(2) == 0:
		e.StrideLog2++
	default:
		e.StrideLog2--
	}
	return fmt.Sprintf("edge %d: stride %d -> %d", e.ID, old, e.Stride()), nil
}
