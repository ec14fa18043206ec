package dna

import (
	"maps"
	"slices"
	"testing"
)

// TestFilterSize: exactly one dimension of one conv's filter moves by 2,
// staying odd, at least 1 and at most MaxFilter: up from 1, down from the
// bound, either way in between. Every result listed must occur over the
// seeds, and no other.
func TestFilterSize(t *testing.T) {
	direct := func(fh, fw int) *Genome {
		g, _ := mutDirectConv(t, 8, fh, fw, 0) // the conv is edge 4
		return g
	}
	type hw struct{ h, w int }
	cases := []struct {
		name      string
		parent    *Genome
		maxFilter int
		want      map[uint32][]hw // conv ID -> its possible new filters
	}{
		{"3x3", direct(3, 3), 15, map[uint32][]hw{4: {{1, 3}, {5, 3}, {3, 1}, {3, 5}}}},
		{"1x1 grows", direct(1, 1), 15, map[uint32][]hw{4: {{3, 1}, {1, 3}}}},
		{"15x15 at the bound shrinks", direct(15, 15), 15, map[uint32][]hw{4: {{13, 15}, {15, 13}}}},
		{"3x3 under the bound 3", direct(3, 3), 3, map[uint32][]hw{4: {{1, 3}, {3, 1}}}},
		{"1x5 under the bound 5", direct(1, 5), 5, map[uint32][]hw{4: {{3, 5}, {1, 3}}}},
		{"7x3 non-square", direct(7, 3), 9, map[uint32][]hw{4: {{5, 3}, {9, 3}, {7, 1}, {7, 5}}}},
		// mixed: conv 6 is 3x3, conv 12 5x3, the conv skip 16 3x3; the
		// bound 5 stops conv 12's height.
		{"mixed, bound 5", mutMixedGenome(t), 5, map[uint32][]hw{
			6:  {{1, 3}, {5, 3}, {3, 1}, {3, 5}},
			12: {{3, 3}, {5, 1}, {5, 5}},
			16: {{1, 3}, {5, 3}, {3, 1}, {3, 5}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parent
			o := DefaultMutateOptions()
			o.Bounds.MaxFilter = tc.maxFilter
			seen := map[uint32]map[hw]bool{}
			for seed := range uint64(160) {
				c, ch := mutApply(t, p, FilterSize, newRand(seed), o)
				a, b := mutOneEdge(t, p, c)
				allowed, ok := tc.want[a.ID]
				if !ok || a.Type != Conv {
					t.Fatalf("seed %d: changed %v edge %d, want one of the convs %v", seed, a.Type, a.ID, slices.Sorted(maps.Keys(tc.want)))
				}
				got := hw{b.FilterH, b.FilterW}
				if !slices.Contains(allowed, got) {
					t.Errorf("seed %d: conv %d filter %dx%d -> %dx%d, want one of %v", seed, a.ID, a.FilterH, a.FilterW, b.FilterH, b.FilterW, allowed)
				}
				if seen[a.ID] == nil {
					seen[a.ID] = map[hw]bool{}
				}
				seen[a.ID][got] = true
				b.FilterH, b.FilterW = a.FilterH, a.FilterW
				if a != b {
					t.Errorf("seed %d: conv %d became %+v, want only its filter changed from %+v", seed, a.ID, b, a)
				}
				mutCheckChange(t, ch, p.WeightIDs(), nil, nil)
			}
			for id, allowed := range tc.want {
				for _, f := range allowed {
					if !seen[id][f] {
						t.Errorf("conv %d never became %dx%d; seen %v", id, f.h, f.w, seen[id])
					}
				}
			}
		})
	}
}

// TestFilterSizeNotApplicable: no conv, or a bound that leaves only 1x1.
func TestFilterSizeNotApplicable(t *testing.T) {
	one, _ := mutDirectConv(t, 8, 1, 1, 0)
	cases := []struct {
		name      string
		parent    *Genome
		maxFilter int
	}{
		{"initial: no convs", Initial(mnist, 10, PaperLearningRate), 15},
		{"1x1 under the bound 1", one, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultMutateOptions()
			o.Bounds.MaxFilter = tc.maxFilter
			mutNotApplicable(t, tc.parent, FilterSize, o)
		})
	}
}
