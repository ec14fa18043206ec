package dna

import "math/rand/v2"

// keepTraining is the paper's IDENTITY mutation: the architecture is
// unchanged and the child simply continues training from its parent's
// weights.
func keepTraining(_ *Genome, _ *rand.Rand, _ *MutateOptions) (string, error) {
	return "keep training", nil
}
