package dna

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

// mutRemoval is the wanted child after one backbone conv is removed.
type mutRemoval struct {
	vertices []uint32    // the child's vertex IDs, sorted
	edges    [][3]uint32 // the child's edges as {ID, from, to}, sorted by ID
	dropped  []uint32    // weight IDs dropped: the conv's and the removed vertex's BN
}

// mutThreeConvs is input 0 -> a 4 (bn_relu, weight 5) -> b 6 (bn_relu,
// weight 7) -> output 1 through the convs 8 (weight 9), 10 (weight 11) and 12
// (weight 13), with the skips 14 (input->b) and 15 (a->output).
func mutThreeConvs(t *testing.T) *Genome {
	t.Helper()
	b := newMutGraph()
	a := b.vertex(BNReLU)
	v := b.vertex(BNReLU)
	b.conv(b.in, a, 4, 3, 3, 1)
	b.conv(a, v, 8, 5, 3, 0)
	b.conv(v, b.out, 16, 3, 1, 0)
	b.skip(b.in, v)
	b.skip(a, b.out)
	g := b.done(t)
	if g.NextID != 16 {
		t.Fatalf("three-conv genome: next_id %d, want 16", g.NextID)
	}
	return g
}

// mutFourConvs is input 0 -> a 4 (bn_relu, weight 5) -> b 6 (linear) -> c 7
// (bn_relu, weight 8) -> output 1 through the convs 9 (weight 10), 11
// (weight 12), 13 (weight 14) and 15 (weight 16), with the skips 17
// (input->c) and 18 (b->output).
func mutFourConvs(t *testing.T) *Genome {
	t.Helper()
	b := newMutGraph()
	a, v, c := b.vertex(BNReLU), b.vertex(Linear), b.vertex(BNReLU)
	b.conv(b.in, a, 4, 3, 3, 0)
	b.conv(a, v, 4, 3, 3, 1)
	b.conv(v, c, 8, 3, 3, 0)
	b.conv(c, b.out, 8, 1, 1, 0)
	b.skip(b.in, c)
	b.skip(v, b.out)
	g := b.done(t)
	if g.NextID != 19 {
		t.Fatalf("four-conv genome: next_id %d, want 19", g.NextID)
	}
	return g
}

// TestRemoveConvolution checks the merge rules on hand-built genomes. For
// a backbone conv u->v: normally v merges into u, skips into v are dropped
// and v's outputs (its backbone edge and its skips) leave u instead, where
// an edge that then duplicates another keeps the backbone one. When v is
// the output vertex, u merges into it: u's inputs enter the output. Only
// the conv's weight ID and the removed vertex's BN weight ID are dropped.
// Every removal listed must occur over the seeds, and no other.
func TestRemoveConvolution(t *testing.T) {
	lastConv := func() *Genome {
		// input 0 -> a 4 (linear) -> output 1: identity 5, conv 6 (weight
		// 7); skip 8 input->output.
		b := newMutGraph()
		a := b.vertex(Linear)
		b.ident(b.in, a)
		b.conv(a, b.out, 8, 3, 3, 0)
		b.skip(b.in, b.out)
		return b.done(t)
	}
	cases := []struct {
		name   string
		parent *Genome
		want   map[uint32]mutRemoval // by the removed conv's ID
	}{
		{"skip genome", skipGenome(), map[uint32]mutRemoval{
			// a merges into the input; 9 now leaves the input and
			// supersedes the skip 11 (input->b).
			7: {[]uint32{0, 1, 6}, [][3]uint32{{2, 6, 1}, {9, 0, 6}}, []uint32{5, 8}},
			// b (linear) merges into a; the skip 11 into b is dropped.
			9: {[]uint32{0, 1, 4}, [][3]uint32{{2, 4, 1}, {7, 0, 4}}, []uint32{10}},
		}},
		{"three convs", mutThreeConvs(t), map[uint32]mutRemoval{
			// a merges into the input: 10 and the skip 15 leave the input;
			// 10 supersedes the skip 14 (input->b).
			8: {[]uint32{0, 1, 6}, [][3]uint32{{10, 0, 6}, {12, 6, 1}, {15, 0, 1}}, []uint32{5, 9}},
			// b merges into a: the skip 14 into b is dropped, 12 leaves a
			// and supersedes the skip 15 (a->output).
			10: {[]uint32{0, 1, 4}, [][3]uint32{{8, 0, 4}, {12, 4, 1}}, []uint32{7, 11}},
			// The target is the output: b merges into it. 10 and the skip
			// 14 now enter the output; 10 supersedes the skip 15.
			12: {[]uint32{0, 1, 4}, [][3]uint32{{8, 0, 4}, {10, 4, 1}, {14, 0, 1}}, []uint32{7, 13}},
		}},
		{"four convs", mutFourConvs(t), map[uint32]mutRemoval{
			// a merges into the input; 11 leaves the input.
			9: {[]uint32{0, 1, 6, 7}, [][3]uint32{{11, 0, 6}, {13, 6, 7}, {15, 7, 1}, {17, 0, 7}, {18, 6, 1}}, []uint32{5, 10}},
			// b (linear) merges into a; its conv 13 and its skip 18 leave a.
			11: {[]uint32{0, 1, 4, 7}, [][3]uint32{{9, 0, 4}, {13, 4, 7}, {15, 7, 1}, {17, 0, 7}, {18, 4, 1}}, []uint32{12}},
			// c merges into b: the skip 17 into c is dropped, not moved to
			// b; 15 leaves b and supersedes the skip 18.
			13: {[]uint32{0, 1, 4, 6}, [][3]uint32{{9, 0, 4}, {11, 4, 6}, {15, 6, 1}}, []uint32{8, 14}},
			// The target is the output: c merges into it; 13 and the skip
			// 17 now enter the output, 13 superseding the skip 18.
			15: {[]uint32{0, 1, 4, 6}, [][3]uint32{{9, 0, 4}, {11, 4, 6}, {13, 6, 1}, {17, 0, 1}}, []uint32{8, 16}},
		}},
		{"last conv from a linear vertex", lastConv(), map[uint32]mutRemoval{
			// a merges into the output; 5 supersedes the skip 8.
			6: {[]uint32{0, 1}, [][3]uint32{{5, 0, 1}}, []uint32{7}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parent
			_, pbe := mutBackbone(t, p)
			seen := map[uint32]int{}
			for seed := range uint64(48) {
				c, ch := mutApply(t, p, RemoveConvolution, newRand(seed), DefaultMutateOptions())
				var removed []uint32
				for _, e := range p.Edges {
					if e.Type == Conv && c.Edge(e.ID) == nil {
						removed = append(removed, e.ID)
					}
				}
				if len(removed) != 1 {
					t.Fatalf("seed %d: removed convs %v, want exactly one", seed, removed)
				}
				want, ok := tc.want[removed[0]]
				if !ok {
					t.Fatalf("seed %d: removed conv %d, want one of %v", seed, removed[0], slices.Sorted(maps.Keys(tc.want)))
				}
				seen[removed[0]]++
				var gotV []uint32
				for _, v := range c.Vertices {
					gotV = append(gotV, v.ID)
					if *p.Vertex(v.ID) != v {
						t.Errorf("seed %d: vertex %+v changed, was %+v", seed, v, *p.Vertex(v.ID))
					}
				}
				var gotE [][3]uint32
				for _, e := range c.Edges {
					gotE = append(gotE, [3]uint32{e.ID, e.From, e.To})
					// Only the ends of a surviving edge may change.
					pe := *p.Edge(e.ID)
					pe.From, pe.To = e.From, e.To
					if pe != e {
						t.Errorf("seed %d: edge %+v changed more than its ends, was %+v", seed, e, *p.Edge(e.ID))
					}
				}
				if !slices.Equal(gotV, want.vertices) || fmt.Sprint(gotE) != fmt.Sprint(want.edges) {
					t.Errorf("seed %d: removing conv %d gave vertices %v edges %v, want %v %v", seed, removed[0], gotV, gotE, want.vertices, want.edges)
				}
				mutCheckChange(t, ch, mutWithout(p.WeightIDs(), want.dropped...), want.dropped, nil)
				if c.NextID != p.NextID || c.Vertex(c.InputVertex) == nil || c.Vertex(c.OutputVertex) == nil {
					t.Errorf("seed %d: next_id %d (want %d), input or output vertex lost", seed, c.NextID, p.NextID)
				}
				if _, cbe := mutBackbone(t, c); len(cbe) != len(pbe)-1 {
					t.Errorf("seed %d: backbone %v, want one edge fewer than %v", seed, cbe, pbe)
				}
			}
			for id := range tc.want {
				if seen[id] == 0 {
					t.Errorf("conv %d was never removed (removals: %v)", id, seen)
				}
			}
		})
	}
}

// TestRemoveConvolutionNotApplicable: nothing to remove without a backbone
// conv, a conv straight from the input to the output has no vertex to
// merge, and a conv whose source's outputs or target's inputs are immutable
// stays.
func TestRemoveConvolutionNotApplicable(t *testing.T) {
	direct, _ := mutDirectConv(t, 8, 3, 3, 0)
	// twoEdges is input 0 -> a 4 (linear) -> output 1, each edge a conv
	// or an identity.
	twoEdges := func(conv1, conv2 bool) *mutGraph {
		b := newMutGraph()
		a := b.vertex(Linear)
		for _, e := range []struct {
			from, to uint32
			conv     bool
		}{{b.in, a, conv1}, {a, b.out, conv2}} {
			if e.conv {
				b.conv(e.from, e.to, 4, 3, 3, 0)
			} else {
				b.ident(e.from, e.to)
			}
		}
		return b
	}
	skipOnly := twoEdges(false, false)
	skipOnly.skipConv(skipOnly.in, skipOnly.out, 4)
	cases := []struct {
		name   string
		parent *Genome
	}{
		{"initial: no convs", Initial(mnist, 10, PaperLearningRate)},
		{"conv input->output", direct},
		{"only a conv skip", skipOnly.done(t)},
		{"conv into a, a's inputs immutable", mutFlag(twoEdges(true, false).done(t), 4, false)},
		{"conv into the output, its inputs immutable", mutFlag(twoEdges(false, true).done(t), 1, false)},
		{"conv out of a, a's outputs immutable", mutFlag(twoEdges(false, true).done(t), 4, true)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mutNotApplicable(t, tc.parent, RemoveConvolution, DefaultMutateOptions())
		})
	}
}

// TestRemoveConvolutionHonoursImmutableFlags: Vertex's contract is that no
// edge may be added to or removed from a vertex's inputs (outputs) when
// InputsMutable (OutputsMutable) is false, and ADD-SKIP, REMOVE-SKIP and
// the inserts check it. REMOVE-CONVOLUTION checks it only on the removed
// conv's own ends: the skips it drops, the edges dedupeEdges supersedes and
// the vertex it merges away can belong to a flagged vertex. Only decoded
// genomes flag vertices other than the input's inputs and the output's
// outputs, but a decoder accepts them.
func TestRemoveConvolutionHonoursImmutableFlags(t *testing.T) {
	cases := []struct {
		name   string
		parent func() *Genome
	}{
		// Only conv 9 may go (7 leaves the input); merging b into a drops
		// the skip 11, an output of the input.
		{"skip genome, input's outputs immutable", func() *Genome {
			g := skipGenome()
			g.Vertex(0).OutputsMutable = false
			return g
		}},
		// Removing conv 7 makes 9 leave the input, and 9 supersedes the
		// skip 11, an input of b.
		{"skip genome, b's inputs immutable", func() *Genome {
			g := skipGenome()
			g.Vertex(6).InputsMutable = false
			return g
		}},
		// Removing conv 15 (c->output) merges c away, inputs and all.
		{"four convs, c's inputs immutable", func() *Genome {
			g := mutFourConvs(t)
			g.Vertex(7).InputsMutable = false
			return g
		}},
	}
	edges := func(g *Genome, v uint32, out bool) []uint32 {
		var ids []uint32
		for _, e := range g.Edges {
			if (out && e.From == v) || (!out && e.To == v) {
				ids = append(ids, e.ID)
			}
		}
		return ids
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parent()
			if err := p.Validate(DefaultBounds()); err != nil {
				t.Fatal(err)
			}
			for seed := range uint64(16) {
				c, _, err := MutateWith(p, RemoveConvolution, newRand(seed), DefaultMutateOptions())
				if err != nil {
					continue // declining is a correct answer
				}
				for _, v := range p.Vertices {
					for _, out := range []bool{false, true} {
						if (out && v.OutputsMutable) || (!out && v.InputsMutable) {
							continue
						}
						side := map[bool]string{false: "inputs", true: "outputs"}[out]
						if c.Vertex(v.ID) == nil {
							t.Fatalf("seed %d: vertex %d, whose %s are immutable, was merged away", seed, v.ID, side)
						}
						if got, want := edges(c, v.ID, out), edges(p, v.ID, out); !slices.Equal(got, want) {
							t.Fatalf("seed %d: vertex %d's %s are immutable but became edges %v, want %v", seed, v.ID, side, got, want)
						}
					}
				}
			}
		})
	}
}
