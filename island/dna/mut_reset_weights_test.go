package dna

import (
	"slices"
	"testing"
)

// TestResetWeights: every weight ID (the FC layer, each BN_RELU vertex, each
// conv) is renewed with a fresh ID, so the child inherits nothing; the
// vertices, edges and learning rate are otherwise unchanged.
func TestResetWeights(t *testing.T) {
	cases := []struct {
		name        string
		parent      *Genome
		wantDropped []uint32 // the parent's weight IDs
	}{
		{"initial", Initial(mnist, 10, PaperLearningRate), []uint32{3}},
		{"skip genome", skipGenome(), []uint32{3, 5, 8, 10}},
		{"mixed", mutMixedGenome(t), []uint32{3, 5, 7, 9, 13, 17}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parent
			for seed := range uint64(4) {
				c, ch := mutApply(t, p, ResetWeights, newRand(seed), DefaultMutateOptions())
				n := uint32(len(tc.wantDropped))
				if c.NextID != p.NextID+n {
					t.Errorf("seed %d: next_id %d, want %d + %d fresh IDs", seed, c.NextID, p.NextID, n)
				}
				// Every created ID is fresh: never used by the parent.
				created := c.WeightIDs()
				for _, id := range created {
					if id < p.NextID || id >= c.NextID {
						t.Errorf("seed %d: weight ID %d is not fresh: want it in [%d, %d)", seed, id, p.NextID, c.NextID)
					}
				}
				mutCheckChange(t, ch, nil, tc.wantDropped, created)
				if len(ch.Created) != len(tc.wantDropped) {
					t.Errorf("seed %d: %d weights created, want %d", seed, len(ch.Created), len(tc.wantDropped))
				}
				if c.FCWeightID == p.FCWeightID {
					t.Errorf("seed %d: FC weight ID %d kept", seed, c.FCWeightID)
				}
				if c.LearningRate != p.LearningRate || len(c.Vertices) != len(p.Vertices) || len(c.Edges) != len(p.Edges) {
					t.Fatalf("seed %d: lr %g, %d vertices, %d edges; want %g, %d, %d", seed,
						c.LearningRate, len(c.Vertices), len(c.Edges), p.LearningRate, len(p.Vertices), len(p.Edges))
				}
				for i, v := range c.Vertices {
					pv := p.Vertices[i]
					if v.Type == BNReLU && v.WeightID == pv.WeightID {
						t.Errorf("seed %d: vertex %d kept weight ID %d", seed, v.ID, v.WeightID)
					}
					v.WeightID = pv.WeightID
					if v != pv {
						t.Errorf("seed %d: vertex %+v, want %+v but for its weight ID", seed, c.Vertices[i], pv)
					}
				}
				for i, e := range c.Edges {
					pe := p.Edges[i]
					if e.Type == Conv && e.WeightID == pe.WeightID {
						t.Errorf("seed %d: conv edge %d kept weight ID %d", seed, e.ID, e.WeightID)
					}
					if e.Type == Identity && e.WeightID != 0 {
						t.Errorf("seed %d: identity edge %d has weight ID %d, want 0", seed, e.ID, e.WeightID)
					}
					e.WeightID = pe.WeightID
					if e != pe {
						t.Errorf("seed %d: edge %+v, want %+v but for its weight ID", seed, c.Edges[i], pe)
					}
				}
				// Resetting twice renews again.
				cc, ch2 := mutApply(t, c, ResetWeights, newRand(seed), DefaultMutateOptions())
				if !slices.Equal(ch2.Dropped, created) || len(ch2.Kept) != 0 || slices.Equal(cc.WeightIDs(), created) {
					t.Errorf("seed %d: second reset kept %v dropped %v, want dropped %v and nothing kept", seed, ch2.Kept, ch2.Dropped, created)
				}
			}
		})
	}
}
