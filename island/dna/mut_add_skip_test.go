package dna

import (
	"slices"
	"testing"
)

// TestAddSkip: exactly one identity edge a->b with skip precedence 0 is
// added between two backbone vertices, a before b, that no edge joins yet.
// The backbone, every vertex and every other edge are unchanged, no weight
// changes, and the graph stays acyclic. Every pair listed must occur over
// the seeds, and no other.
func TestAddSkip(t *testing.T) {
	chain := func() *mutGraph {
		// input 0 -> a 4 (linear) -> b 5 (bn_relu, weight 6) -> output 1:
		// identity 7, conv 8 (weight 9), identity 10.
		b := newMutGraph()
		a := b.vertex(Linear)
		v := b.vertex(BNReLU)
		b.ident(b.in, a)
		b.conv(a, v, 8, 3, 3, 1)
		b.ident(v, b.out)
		return b
	}
	nearlyFull := chain()
	nearlyFull.skip(nearlyFull.in, 5)
	nearlyFull.skip(4, nearlyFull.out)
	cases := []struct {
		name   string
		parent *Genome
		want   [][2]uint32 // the unjoined backbone pairs
	}{
		{"chain", chain().done(t), [][2]uint32{{0, 5}, {0, 1}, {4, 1}}},
		{"chain with two skips", nearlyFull.done(t), [][2]uint32{{0, 1}}},
		// skipGenome: backbone 0, 4, 6, 1 and the skip 0->6.
		{"skip genome", skipGenome(), [][2]uint32{{0, 1}, {4, 1}}},
		// mixed: backbone 0, 4, 8, 11, 1 and the skips 4->11, 0->8.
		{"mixed", mutMixedGenome(t), [][2]uint32{{0, 11}, {0, 1}, {4, 1}, {8, 1}}},
		// No skip may leave b or enter c.
		{"mixed, b's outputs and c's inputs immutable", mutFlag(mutFlag(mutMixedGenome(t), 8, true), 11, false), [][2]uint32{{0, 1}, {4, 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parent
			pbv, pbe := mutBackbone(t, p)
			seen := map[[2]uint32]int{}
			for seed := range uint64(64) {
				c, ch := mutApply(t, p, AddSkip, newRand(seed), DefaultMutateOptions())
				d := mutDiff(p, c)
				if len(d.addedV)+len(d.removedV)+len(d.changedV)+len(d.removedE)+len(d.changedE) != 0 || len(d.addedE) != 1 {
					t.Fatalf("seed %d: %v; want exactly one edge added", seed, d)
				}
				e := *c.Edge(d.addedE[0])
				pair := [2]uint32{e.From, e.To}
				if !slices.Contains(tc.want, pair) {
					t.Errorf("seed %d: skip %d->%d, want one of %v", seed, e.From, e.To, tc.want)
				}
				seen[pair]++
				wantE := Edge{ID: p.NextID, From: e.From, To: e.To, Type: Identity,
					DepthPrecedence: SkipPrecedence, ScalePrecedence: SkipPrecedence}
				if e != wantE || c.NextID != p.NextID+1 {
					t.Errorf("seed %d: new edge %+v, next_id %d; want %+v, %d", seed, e, c.NextID, wantE, p.NextID+1)
				}
				if i, j := slices.Index(pbv, e.From), slices.Index(pbv, e.To); i < 0 || j <= i {
					t.Errorf("seed %d: skip %d->%d does not go forward along the backbone %v", seed, e.From, e.To, pbv)
				}
				cbv, cbe := mutBackbone(t, c)
				if !slices.Equal(cbv, pbv) || !slices.Equal(cbe, pbe) {
					t.Errorf("seed %d: backbone %v %v, want %v %v as before", seed, cbv, cbe, pbv, pbe)
				}
				// Acyclic: the skip's source comes first in the
				// topological order.
				r, err := c.Resolve()
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				if slices.Index(r.Order, c.vertexIndex(e.From)) >= slices.Index(r.Order, c.vertexIndex(e.To)) {
					t.Errorf("seed %d: skip %d->%d goes against the order %v", seed, e.From, e.To, r.Order)
				}
				mutCheckChange(t, ch, p.WeightIDs(), nil, nil)
			}
			for _, pair := range tc.want {
				if seen[pair] == 0 {
					t.Errorf("pair %d->%d was never joined (seen %v)", pair[0], pair[1], seen)
				}
			}
		})
	}
}

// TestAddSkipNotApplicable: every pair of backbone vertices is joined
// already; in the initial genome the only pair is input->output.
func TestAddSkipNotApplicable(t *testing.T) {
	full := newMutGraph() // input -> a -> output, and input -> output
	a := full.vertex(BNReLU)
	full.conv(full.in, a, 4, 3, 3, 0)
	full.ident(a, full.out)
	full.skip(full.in, full.out)
	cases := []struct {
		name   string
		parent *Genome
	}{
		{"initial", Initial(mnist, 10, PaperLearningRate)},
		{"every pair joined", full.done(t)},
		// skipGenome's free pairs both enter the output.
		{"output's inputs immutable", mutFlag(skipGenome(), 1, false)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mutNotApplicable(t, tc.parent, AddSkip, DefaultMutateOptions())
		})
	}
}
