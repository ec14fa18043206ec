package dna

import (
	"maps"
	"slices"
	"testing"
)

// TestAlterNumberOfChannels: exactly one conv's channels c are redrawn in
// [max(1, c/2), min(2c, MaxChannels)], never c itself. Over the seeds every
// value of that range (and no other) must occur.
func TestAlterNumberOfChannels(t *testing.T) {
	direct := func(ch int) *Genome {
		g, _ := mutDirectConv(t, ch, 3, 3, 0) // the conv is edge 4
		return g
	}
	type span struct{ lo, hi int }
	cases := []struct {
		name        string
		parent      *Genome
		maxChannels int
		want        map[uint32]span // conv ID -> the range, less its channels
	}{
		{"8 channels", direct(8), 512, map[uint32]span{4: {4, 16}}},
		{"1 channel: only 2", direct(1), 512, map[uint32]span{4: {2, 2}}},
		{"3 channels: half rounds down", direct(3), 512, map[uint32]span{4: {1, 6}}},
		{"16 channels capped at 20", direct(16), 20, map[uint32]span{4: {8, 20}}},
		{"16 channels at the cap", direct(16), 16, map[uint32]span{4: {8, 15}}},
		{"1 channel, cap 2", direct(1), 2, map[uint32]span{4: {2, 2}}},
		// skipGenome: conv 7 has 8 channels, conv 9 16.
		{"skip genome", skipGenome(), 512, map[uint32]span{7: {4, 16}, 9: {8, 32}}},
		// mixed: convs 6 (4 channels), 12 (16), the conv skip 16 (8);
		// the cap 20 binds conv 12 only.
		{"mixed, cap 20", mutMixedGenome(t), 20, map[uint32]span{6: {2, 8}, 12: {8, 20}, 16: {4, 16}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parent
			o := DefaultMutateOptions()
			o.Bounds.MaxChannels = tc.maxChannels
			seen := map[uint32]map[int]bool{}
			for seed := range uint64(400) {
				c, ch := mutApply(t, p, AlterNumberOfChannels, newRand(seed), o)
				a, b := mutOneEdge(t, p, c)
				r, ok := tc.want[a.ID]
				if !ok || a.Type != Conv {
					t.Fatalf("seed %d: changed %v edge %d, want one of the convs %v", seed, a.Type, a.ID, slices.Sorted(maps.Keys(tc.want)))
				}
				if b.Channels == a.Channels || b.Channels < r.lo || b.Channels > r.hi {
					t.Errorf("seed %d: conv %d channels %d -> %d, want in [%d, %d] and not %d", seed, a.ID, a.Channels, b.Channels, r.lo, r.hi, a.Channels)
				}
				if seen[a.ID] == nil {
					seen[a.ID] = map[int]bool{}
				}
				seen[a.ID][b.Channels] = true
				b.Channels = a.Channels
				if a != b {
					t.Errorf("seed %d: conv %d became %+v, want only its channels changed from %+v", seed, a.ID, b, a)
				}
				// The kernel's shape changes but its ID is kept: the engine
				// compares shapes before it copies.
				mutCheckChange(t, ch, p.WeightIDs(), nil, nil)
			}
			for id, r := range tc.want {
				old := p.Edge(id).Channels
				for v := r.lo; v <= r.hi; v++ {
					if v != old && !seen[id][v] {
						t.Errorf("conv %d (%d channels) never got %d channels; seen %v", id, old, v, slices.Sorted(maps.Keys(seen[id])))
					}
				}
			}
		})
	}
}

// TestAlterNumberOfChannelsNotApplicable: no conv, or no conv whose
// channels can change (1 channel under the cap 1).
func TestAlterNumberOfChannelsNotApplicable(t *testing.T) {
	one, _ := mutDirectConv(t, 1, 3, 3, 0)
	cases := []struct {
		name        string
		parent      *Genome
		maxChannels int
	}{
		{"initial: no convs", Initial(mnist, 10, PaperLearningRate), 512},
		{"1 channel, cap 1", one, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultMutateOptions()
			o.Bounds.MaxChannels = tc.maxChannels
			mutNotApplicable(t, tc.parent, AlterNumberOfChannels, o)
		})
	}
}
