package island

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evoswarm/evoswarm/island/dna"
)

func TestDistance(t *testing.T) {
	a, b := testGenome(t, 1, 3), testGenome(t, 2, 1)
	sa, sb := SignatureOf(a), SignatureOf(b)
	if len(sa.Layers) != 4 || len(sb.Layers) != 2 {
		t.Fatalf("backbones of %d and %d layers, want 4 (three convolutions and the identity edge) and 2", len(sa.Layers), len(sb.Layers))
	}
	if d := Distance(sa, sa); d != 0 {
		t.Errorf("a genome is %v from itself", d)
	}
	// Another individual of the same architecture (another nonce, another
	// parent) is at 0: the distance sees architectures, not identities.
	c := a.Clone()
	c.Nonce = 77
	if d := Distance(sa, SignatureOf(c)); d != 0 {
		t.Errorf("the same architecture is %v away", d)
	}
	d1, d2 := Distance(sa, sb), Distance(sb, sa)
	if d1 != d2 || d1 < 2 || d1 > 3 {
		t.Errorf("3 convolutions against 1: %v and %v, want symmetric and between 2 and 3 layers", d1, d2)
	}
	lr := a.Clone()
	lr.LearningRate *= 4
	if d := Distance(sa, SignatureOf(lr)); math.Abs(d-0.5) > 1e-9 {
		t.Errorf("learning rate x4: distance %v, want 0.5", d)
	}
	skip, _, err := dna.MutateWith(a, dna.AddSkip, rand.New(rand.NewPCG(1, 2)), dna.DefaultMutateOptions())
	if err != nil {
		t.Fatal(err)
	}
	if d := Distance(sa, SignatureOf(skip)); d != 0.5 {
		t.Errorf("one skip more: distance %v, want 0.5", d)
	}
}
