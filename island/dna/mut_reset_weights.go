package dna

import (
	"fmt"
	"math/rand/v2"
)

// resetWeights gives every weight-bearing part a new weight ID, so the child
// inherits nothing and starts from fresh He-initialised weights.
func resetWeights(g *Genome, _ *rand.Rand, _ *MutateOptions) (string, error) {
	n := 1
	g.FCWeightID = g.newID()
	for i := range g.Vertices {
		if g.Vertices[i].Type == BNReLU {
			g.Vertices[i].WeightID = g.newID()
			n++
		}
	}
	for i := range g.Edges {
		if g.Edges[i].Type == Conv {
			g.Edges[i].WeightID = g.newID()
			n++
		}
	}
	return fmt.Sprintf("%d weight tensors renewed", n), nil
}
