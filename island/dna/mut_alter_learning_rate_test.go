package dna

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestAlterLearningRate: the learning rate is multiplied by 2^U(-1,1), so
// the ratio lies in [0.5, 2] and its log is uniform (half the children
// learn slower, a quarter slower than 1/sqrt(2)); nothing else changes.
func TestAlterLearningRate(t *testing.T) {
	slow := mutMixedGenome(t)
	slow.LearningRate = 0.003
	cases := []struct {
		name        string
		parent      *Genome
		wantWeights []uint32
	}{
		{"initial", Initial(mnist, 10, PaperLearningRate), []uint32{3}},
		{"skip genome", skipGenome(), []uint32{3, 5, 8, 10}},
		{"mixed, lr 0.003", slow, []uint32{3, 5, 7, 9, 13, 17}},
	}
	const n = 400
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parent
			var below1, belowRoot int
			lo, hi := math.Inf(1), math.Inf(-1)
			for seed := range uint64(n) {
				c, ch := mutApply(t, p, AlterLearningRate, newRand(seed), DefaultMutateOptions())
				r := c.LearningRate / p.LearningRate
				if r < 0.5 || r > 2 || r == 1 {
					t.Fatalf("seed %d: learning rate %g -> %g, ratio %g; want a ratio in [0.5, 2] other than 1", seed, p.LearningRate, c.LearningRate, r)
				}
				lo, hi = min(lo, r), max(hi, r)
				if r < 1 {
					below1++
				}
				if r < math.Sqrt2/2 {
					belowRoot++
				}
				if !sameArchitecture(p, c) || c.NextID != p.NextID || c.Input != p.Input || c.Classes != p.Classes {
					t.Fatalf("seed %d: the architecture changed, want only the learning rate", seed)
				}
				mutCheckChange(t, ch, tc.wantWeights, nil, nil)
			}
			if lo > 0.52 || hi < 1.9 {
				t.Errorf("ratios span [%g, %g], want about [0.5, 2]", lo, hi)
			}
			// Log-uniform: P(r < 1) = 1/2 and P(r < 2^-1/2) = 1/4. A ratio
			// uniform on [0.5, 2] would give 1/3 and 0.14.
			if f := float64(below1) / n; f < 0.44 || f > 0.56 {
				t.Errorf("%.3f of the ratios are below 1, want about 0.5", f)
			}
			if f := float64(belowRoot) / n; f < 0.2 || f > 0.3 {
				t.Errorf("%.3f of the ratios are below 1/sqrt(2), want about 0.25", f)
			}
		})
	}
}

// TestAlterLearningRateBounds: a child whose learning rate leaves [MinLR,
// MaxLR] is refused with ErrOutOfBounds; one inside is accepted unchanged.
// The rate drawn from a seed does not depend on the bounds, so the bounds
// alone decide.
func TestAlterLearningRateBounds(t *testing.T) {
	cases := []struct {
		name         string
		minLR, maxLR float64
		wantAccepted bool // some seeds give a child
		wantRefused  bool // some seeds are refused
	}{
		{"pinned at 0.1", 0.1, 0.1, false, true},
		{"half to twice", 0.05, 0.2, true, false},
		{"upward only", 0.1, 0.15, true, true},
		{"downward only", 0.06, 0.1, true, true},
		{"above the parent", 0.21, 1, false, true},
	}
	p := Initial(mnist, 10, PaperLearningRate)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultMutateOptions()
			o.Bounds.MinLR, o.Bounds.MaxLR = tc.minLR, tc.maxLR
			accepted, refused := 0, 0
			for seed := range uint64(100) {
				free, _ := mutApply(t, p, AlterLearningRate, newRand(seed), DefaultMutateOptions())
				c, ch, err := MutateWith(p, AlterLearningRate, newRand(seed), o)
				inside := free.LearningRate >= tc.minLR && free.LearningRate <= tc.maxLR
				switch {
				case inside && err != nil:
					t.Fatalf("seed %d: rate %g is inside [%g, %g] but was refused: %v", seed, free.LearningRate, tc.minLR, tc.maxLR, err)
				case inside:
					accepted++
					if c.LearningRate != free.LearningRate || c.ID() != free.ID() {
						t.Fatalf("seed %d: rate %g (ID %s) within bounds, want %g (ID %s) as without", seed, c.LearningRate, c.ID().Short(), free.LearningRate, free.ID().Short())
					}
					if !slices.Equal(ch.Kept, []uint32{3}) {
						t.Fatalf("seed %d: kept %v, want [3]", seed, ch.Kept)
					}
				default:
					refused++
					if !errors.Is(err, ErrOutOfBounds) || c != nil {
						t.Fatalf("seed %d: rate %g outside [%g, %g]: got child %t, error %v; want ErrOutOfBounds", seed, free.LearningRate, tc.minLR, tc.maxLR, c != nil, err)
					}
					if !strings.Contains(err.Error(), "learning rate") || !strings.Contains(err.Error(), "alter-learning-rate") {
						t.Fatalf("seed %d: error %q, want it to name the mutation and the learning rate", seed, err)
					}
				}
			}
			if (accepted > 0) != tc.wantAccepted || (refused > 0) != tc.wantRefused {
				t.Errorf("%d accepted, %d refused; want accepted %t, refused %t", accepted, refused, tc.wantAccepted, tc.wantRefused)
			}
		})
	}
}
