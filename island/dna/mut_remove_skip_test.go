package dna

import (
	"maps"
	"slices"
	"testing"
)

// TestRemoveSkip: exactly one edge off the backbone is removed; the
// backbone, the vertices and every other edge are unchanged. Only a conv
// skip has a weight to drop. Every skip listed must be removed over the
// seeds, and no other edge.
func TestRemoveSkip(t *testing.T) {
	cases := []struct {
		name   string
		parent *Genome
		want   map[uint32][]uint32 // skip ID -> the weight IDs removing it drops
	}{
		{"skip genome", skipGenome(), map[uint32][]uint32{11: nil}},
		// three convs: skips 14 (input->b) and 15 (a->output).
		{"three convs", mutThreeConvs(t), map[uint32][]uint32{14: nil, 15: nil}},
		// mixed: the identity skip 15 (a->c) and the conv skip 16
		// (input->b, weight 17).
		{"mixed", mutMixedGenome(t), map[uint32][]uint32{15: nil, 16: {17}}},
		// a's outputs are immutable: the skip 15 (a->output) stays.
		{"three convs, a's outputs immutable", mutFlag(mutThreeConvs(t), 4, true), map[uint32][]uint32{14: nil}},
		// b's inputs are immutable: the skip 14 (input->b) stays.
		{"three convs, b's inputs immutable", mutFlag(mutThreeConvs(t), 6, false), map[uint32][]uint32{15: nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parent
			pbv, pbe := mutBackbone(t, p)
			seen := map[uint32]int{}
			for seed := range uint64(32) {
				c, ch := mutApply(t, p, RemoveSkip, newRand(seed), DefaultMutateOptions())
				d := mutDiff(p, c)
				if len(d.addedV)+len(d.removedV)+len(d.changedV)+len(d.addedE)+len(d.changedE) != 0 || len(d.removedE) != 1 {
					t.Fatalf("seed %d: %v; want exactly one edge removed", seed, d)
				}
				id := d.removedE[0]
				dropped, ok := tc.want[id]
				if !ok || slices.Contains(pbe, id) {
					t.Fatalf("seed %d: removed edge %d, want one of the skips %v (the backbone is %v)", seed, id, slices.Sorted(maps.Keys(tc.want)), pbe)
				}
				seen[id]++
				cbv, cbe := mutBackbone(t, c)
				if !slices.Equal(cbv, pbv) || !slices.Equal(cbe, pbe) {
					t.Errorf("seed %d: backbone %v %v, want %v %v as before", seed, cbv, cbe, pbv, pbe)
				}
				if c.NextID != p.NextID || c.LearningRate != p.LearningRate {
					t.Errorf("seed %d: next_id %d lr %g, want %d %g", seed, c.NextID, c.LearningRate, p.NextID, p.LearningRate)
				}
				mutCheckChange(t, ch, mutWithout(p.WeightIDs(), dropped...), dropped, nil)
			}
			for id := range tc.want {
				if seen[id] == 0 {
					t.Errorf("skip %d was never removed (seen %v)", id, seen)
				}
			}
		})
	}
}

// TestRemoveSkipNotApplicable: no skips, only backbone edges.
func TestRemoveSkipNotApplicable(t *testing.T) {
	direct, _ := mutDirectConv(t, 8, 3, 3, 0)
	chain := newMutGraph() // input -> a -> b -> output, no skips
	a, b := chain.vertex(BNReLU), chain.vertex(Linear)
	chain.conv(chain.in, a, 4, 3, 3, 1)
	chain.ident(a, b)
	chain.conv(b, chain.out, 8, 1, 1, 0)
	cases := []struct {
		name   string
		parent *Genome
	}{
		{"initial", Initial(mnist, 10, PaperLearningRate)},
		{"conv input->output", direct},
		{"chain", chain.done(t)},
		// The only skip, 11 (input->b), leaves a vertex whose outputs are
		// immutable, or enters one whose inputs are.
		{"skip genome, input's outputs immutable", mutFlag(skipGenome(), 0, true)},
		{"skip genome, b's inputs immutable", mutFlag(skipGenome(), 6, false)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mutNotApplicable(t, tc.parent, RemoveSkip, DefaultMutateOptions())
		})
	}
}
