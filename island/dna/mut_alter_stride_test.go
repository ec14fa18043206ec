package dna

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

// TestAlterStride: exactly one conv's stride moves one power of two: up
// from 1, down from the bound 2^MaxStrideLog2, either way in between. Every
// move listed must occur over the seeds, and no other.
func TestAlterStride(t *testing.T) {
	direct := func(strideLog2 int) *Genome {
		g, _ := mutDirectConv(t, 8, 3, 3, strideLog2) // the conv is edge 4
		return g
	}
	cases := []struct {
		name    string
		parent  *Genome
		maxLog2 int
		want    map[uint32][]int // conv ID -> the stride log2 values it may move to
	}{
		// skipGenome: conv 7 has stride 2, conv 9 stride 1.
		{"skip genome", skipGenome(), 3, map[uint32][]int{7: {0, 2}, 9: {1}}},
		// mixed: conv 6 stride 2, conv 12 stride 1, the conv skip 16 stride 1.
		{"mixed", mutMixedGenome(t), 3, map[uint32][]int{6: {0, 2}, 12: {1}, 16: {1}}},
		{"stride 8 at the bound 8", direct(3), 3, map[uint32][]int{4: {2}}},
		{"stride 4 at the bound 4", direct(2), 2, map[uint32][]int{4: {1}}},
		{"stride 4 below the bound 8", direct(2), 3, map[uint32][]int{4: {1, 3}}},
		{"stride 2 at the bound 2", direct(1), 1, map[uint32][]int{4: {0}}},
		{"stride 1, bound 2", direct(0), 1, map[uint32][]int{4: {1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parent
			o := DefaultMutateOptions()
			o.Bounds.MaxStrideLog2 = tc.maxLog2
			seen := map[string]bool{}
			for seed := range uint64(48) {
				c, ch := mutApply(t, p, AlterStride, newRand(seed), o)
				a, b := mutOneEdge(t, p, c)
				allowed, ok := tc.want[a.ID]
				if !ok || a.Type != Conv {
					t.Fatalf("seed %d: changed %v edge %d, want one of the convs %v", seed, a.Type, a.ID, slices.Sorted(maps.Keys(tc.want)))
				}
				if !slices.Contains(allowed, b.StrideLog2) {
					t.Errorf("seed %d: conv %d stride %d -> %d, want -> one of %v (log2)", seed, a.ID, a.Stride(), b.Stride(), allowed)
				}
				seen[fmt.Sprint(a.ID, b.StrideLog2)] = true
				b.StrideLog2 = a.StrideLog2
				if a != b {
					t.Errorf("seed %d: conv %d became %+v, want only its stride changed from %+v", seed, a.ID, b, a)
				}
				mutCheckChange(t, ch, p.WeightIDs(), nil, nil)
			}
			for id, allowed := range tc.want {
				for _, s := range allowed {
					if !seen[fmt.Sprint(id, s)] {
						t.Errorf("conv %d never moved to stride log2 %d (seen %v)", id, s, seen)
					}
				}
			}
		})
	}
}

// TestAlterStrideNotApplicable: no conv, or no stride but 1 allowed.
func TestAlterStrideNotApplicable(t *testing.T) {
	direct, _ := mutDirectConv(t, 8, 3, 3, 0)
	cases := []struct {
		name    string
		parent  *Genome
		maxLog2 int
	}{
		{"initial: no convs", Initial(mnist, 10, PaperLearningRate), 3},
		{"max stride log2 0", direct, 0},
		{"max stride log2 0, skip genome", skipGenome(), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultMutateOptions()
			o.Bounds.MaxStrideLog2 = tc.maxLog2
			mutNotApplicable(t, tc.parent, AlterStride, o)
		})
	}
}
