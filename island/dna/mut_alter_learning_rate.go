package dna

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// alterLearningRate multiplies the learning rate by 2^U(-1,1): anything from
// half to twice, log-uniformly.
func alterLearningRate(g *Genome, rng *rand.Rand, _ *MutateOptions) (string, error) {
	old := g.LearningRate
	g.LearningRate = old * math.Exp2(2*rng.Float64()-1)
	return fmt.Sprintf("learning rate %.4g -> %.4g", old, g.LearningRate), nil
}
