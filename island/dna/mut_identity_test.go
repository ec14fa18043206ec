package dna

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestIdentity: the paper's IDENTITY mutation (KeepTraining) changes
// nothing but the lineage. The child keeps every weight, records its parent
// and draws a nonce, so that two identity children of one parent are
// distinct individuals.
func TestIdentity(t *testing.T) {
	cases := []struct {
		name   string
		parent *Genome
		// wantWeights is the parent's weight IDs, all of which the child keeps.
		wantWeights []uint32
	}{
		{"initial", Initial(mnist, 10, PaperLearningRate), []uint32{3}},
		{"skip genome", skipGenome(), []uint32{3, 5, 8, 10}},
		{"mixed", mutMixedGenome(t), []uint32{3, 5, 7, 9, 13, 17}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.parent
			if got := p.WeightIDs(); !slices.Equal(got, tc.wantWeights) {
				t.Fatalf("parent weight IDs %v, want %v", got, tc.wantWeights)
			}
			o := DefaultMutateOptions()
			rng := newRand(1)
			a, cha := mutApply(t, p, KeepTraining, rng, o)
			b, chb := mutApply(t, p, KeepTraining, rng, o)
			for i, c := range []struct {
				child *Genome
				ch    Change
			}{{a, cha}, {b, chb}} {
				if !sameArchitecture(p, c.child) {
					t.Errorf("child %d: architecture changed:\n got %+v %+v\nwant %+v %+v", i, c.child.Vertices, c.child.Edges, p.Vertices, p.Edges)
				}
				if c.child.LearningRate != p.LearningRate || c.child.Input != p.Input || c.child.Classes != p.Classes || c.child.NextID != p.NextID {
					t.Errorf("child %d: lr %g input %v classes %d next_id %d, want %g %v %d %d", i,
						c.child.LearningRate, c.child.Input, c.child.Classes, c.child.NextID, p.LearningRate, p.Input, p.Classes, p.NextID)
				}
				if c.child.ID() == p.ID() {
					t.Errorf("child %d has its parent's ID %s", i, p.ID().Short())
				}
				mutCheckChange(t, c.ch, tc.wantWeights, nil, nil)
				if c.ch.Detail == "" {
					t.Errorf("child %d: empty Detail", i)
				}
			}
			if a.Nonce == b.Nonce {
				t.Errorf("two identity children drew the same nonce %#x", a.Nonce)
			}
			if a.ID() == b.ID() {
				t.Errorf("two identity children of one parent share the ID %s", a.ID().Short())
			}
			// The child is a function of the parent and the rng's state.
			again, _ := mutApply(t, p, KeepTraining, newRand(1), o)
			if again.ID() != a.ID() {
				t.Errorf("same parent and seed: ID %s, want %s", again.ID().Short(), a.ID().Short())
			}
			// A grandchild names the child, not the grandparent.
			g, _ := mutApply(t, a, KeepTraining, rng, o)
			if g.Parent != a.ID() || g.Parent == p.ID() {
				t.Errorf("grandchild's parent %s, want the child %s", g.Parent.Short(), a.ID().Short())
			}
		})
	}
}

// Helpers shared by the per-mutation tests (mut_*_test.go).

// mutApply applies k to parent with MutateWith and fails the test if it
// does not. It also checks what every mutation must do: leave the parent
// untouched, record the lineage, and report its kind.
func mutApply(t *testing.T, parent *Genome, k Kind, rng *rand.Rand, o MutateOptions) (*Genome, Change) {
	t.Helper()
	before := parent.ID()
	child, ch, err := MutateWith(parent, k, rng, o)
	if err != nil {
		t.Fatalf("%s: got error %v, want a child", k, err)
	}
	if parent.ID() != before {
		t.Fatalf("%s changed its parent: ID %s, was %s", k, parent.ID().Short(), before.Short())
	}
	if child.Parent != before || child.Mutation != k || ch.Kind != k {
		t.Fatalf("%s: lineage parent %s mutation %s, change kind %s; want %s %s %s",
			k, child.Parent.Short(), child.Mutation, ch.Kind, before.Short(), k, k)
	}
	return child, ch
}

// mutNotApplicable checks, on several seeds, that k refuses parent as not
// applicable rather than returning a child or failing validation.
func mutNotApplicable(t *testing.T, parent *Genome, k Kind, o MutateOptions) {
	t.Helper()
	for seed := range uint64(8) {
		child, ch, err := MutateWith(parent, k, newRand(seed), o)
		if !errors.Is(err, errNotApplicable) {
			t.Fatalf("seed %d: %s: got error %v (child %t), want not applicable", seed, k, err, child != nil)
		}
		if child != nil || ch.Kind != None {
			t.Fatalf("seed %d: %s: got a child or a change (%+v) with the error, want neither", seed, k, ch)
		}
	}
}

// mutCheckChange compares a Change's weight lists with the wanted ones (nil
// and empty are equal).
func mutCheckChange(t *testing.T, ch Change, kept, dropped, created []uint32) {
	t.Helper()
	if !slices.Equal(ch.Kept, kept) || !slices.Equal(ch.Dropped, dropped) || !slices.Equal(ch.Created, created) {
		t.Errorf("%s (%s): change kept %v dropped %v created %v; want kept %v dropped %v created %v",
			ch.Kind, ch.Detail, ch.Kept, ch.Dropped, ch.Created, kept, dropped, created)
	}
}

// mutIDs returns ids sorted, without the zeros (a linear vertex's weight ID).
func mutIDs(ids ...uint32) []uint32 {
	out := slices.DeleteFunc(slices.Clone(ids), func(id uint32) bool { return id == 0 })
	slices.Sort(out)
	return out
}

// mutWithout returns ids less drop, in order.
func mutWithout(ids []uint32, drop ...uint32) []uint32 {
	return slices.DeleteFunc(slices.Clone(ids), func(id uint32) bool { return slices.Contains(drop, id) })
}

// mutGraphDiff lists, by ID, what a child added, removed or changed relative
// to its parent.
type mutGraphDiff struct {
	addedV, removedV, changedV []uint32
	addedE, removedE, changedE []uint32
}

func (d mutGraphDiff) String() string {
	return fmt.Sprintf("vertices +%v -%v ~%v, edges +%v -%v ~%v",
		d.addedV, d.removedV, d.changedV, d.addedE, d.removedE, d.changedE)
}

func mutDiff(parent, child *Genome) mutGraphDiff {
	var d mutGraphDiff
	for _, v := range parent.Vertices {
		switch c := child.Vertex(v.ID); {
		case c == nil:
			d.removedV = append(d.removedV, v.ID)
		case *c != v:
			d.changedV = append(d.changedV, v.ID)
		}
	}
	for _, v := range child.Vertices {
		if parent.Vertex(v.ID) == nil {
			d.addedV = append(d.addedV, v.ID)
		}
	}
	for _, e := range parent.Edges {
		switch c := child.Edge(e.ID); {
		case c == nil:
			d.removedE = append(d.removedE, e.ID)
		case *c != e:
			d.changedE = append(d.changedE, e.ID)
		}
	}
	for _, e := range child.Edges {
		if parent.Edge(e.ID) == nil {
			d.addedE = append(d.addedE, e.ID)
		}
	}
	return d
}

// mutBackbone returns g's backbone or fails the test.
func mutBackbone(t *testing.T, g *Genome) (vertices, edges []uint32) {
	t.Helper()
	vs, es, err := g.Backbone()
	if err != nil {
		t.Fatalf("backbone: %v", err)
	}
	return vs, es
}

// mutGraph builds a genome by hand. It starts from Initial's input vertex 0
// and output vertex 1 (28x28x1 input, 10 classes, learning rate 0.1, FC
// weight ID 3) without the input->output edge (ID 2, now unused); every
// vertex, edge and weight after that takes the next ID in the order of the
// calls, so tests can name them.
type mutGraph struct {
	g       *Genome
	in, out uint32
}

func newMutGraph() *mutGraph {
	g := Initial(mnist, 10, PaperLearningRate)
	g.Edges = nil
	return &mutGraph{g: g, in: g.InputVertex, out: g.OutputVertex}
}

// vertex adds a mutable vertex; a BN_RELU vertex takes a weight ID next.
func (b *mutGraph) vertex(t VertexType) uint32 {
	v := Vertex{ID: b.g.newID(), Type: t, InputsMutable: true, OutputsMutable: true}
	if t == BNReLU {
		v.WeightID = b.g.newID()
	}
	b.g.Vertices = append(b.g.Vertices, v)
	return v.ID
}

func (b *mutGraph) edge(e Edge) uint32 {
	e.ID = b.g.newID()
	if e.Type == Conv {
		e.WeightID = b.g.newID()
	}
	b.g.Edges = append(b.g.Edges, e)
	return e.ID
}

// conv adds a backbone conv (precedence 1); its weight ID is its ID + 1.
func (b *mutGraph) conv(from, to uint32, ch, fh, fw, strideLog2 int) uint32 {
	return b.edge(Edge{From: from, To: to, Type: Conv, Channels: ch, FilterH: fh, FilterW: fw, StrideLog2: strideLog2,
		DepthPrecedence: BackbonePrecedence, ScalePrecedence: BackbonePrecedence})
}

// ident adds a backbone identity edge (precedence 1).
func (b *mutGraph) ident(from, to uint32) uint32 {
	return b.edge(Edge{From: from, To: to, Type: Identity, DepthPrecedence: BackbonePrecedence, ScalePrecedence: BackbonePrecedence})
}

// skip adds an identity skip (precedence 0).
func (b *mutGraph) skip(from, to uint32) uint32 {
	return b.edge(Edge{From: from, To: to, Type: Identity, DepthPrecedence: SkipPrecedence, ScalePrecedence: SkipPrecedence})
}

// skipConv adds a 3x3 stride-1 conv skip (precedence 0), which no mutation
// creates but the genome allows.
func (b *mutGraph) skipConv(from, to uint32, ch int) uint32 {
	return b.edge(Edge{From: from, To: to, Type: Conv, Channels: ch, FilterH: 3, FilterW: 3,
		DepthPrecedence: SkipPrecedence, ScalePrecedence: SkipPrecedence})
}

// done sorts the genome and fails the test unless it is valid within the
// default bounds.
func (b *mutGraph) done(t *testing.T) *Genome {
	t.Helper()
	b.g.sortGraph()
	if err := b.g.Validate(DefaultBounds()); err != nil {
		t.Fatalf("hand-built genome: %v", err)
	}
	return b.g
}

// mutDirectConv is one conv straight from the input to the output.
func mutDirectConv(t *testing.T, ch, fh, fw, strideLog2 int) (*Genome, uint32) {
	t.Helper()
	b := newMutGraph()
	e := b.conv(b.in, b.out, ch, fh, fw, strideLog2)
	return b.done(t), e
}

// mutMixedGenome has a bit of everything, with these IDs:
//
//	vertices: input 0, output 1, a 4 (bn_relu, weight 5), b 8 (bn_relu,
//	          weight 9), c 11 (linear)
//	backbone: 6 input->a conv 4 channels 3x3 stride 2 (weight 7),
//	          10 a->b identity, 12 b->c conv 16 channels 5x3 (weight 13),
//	          14 c->output identity
//	skips:    15 a->c identity, 16 input->b conv 8 channels 3x3 (weight 17)
//
// Its weight IDs are 3, 5, 7, 9, 13 and 17.
func mutMixedGenome(t *testing.T) *Genome {
	t.Helper()
	b := newMutGraph()
	a := b.vertex(BNReLU)
	b.conv(b.in, a, 4, 3, 3, 1)
	v := b.vertex(BNReLU)
	b.ident(a, v)
	c := b.vertex(Linear)
	b.conv(v, c, 16, 5, 3, 0)
	b.ident(c, b.out)
	b.skip(a, c)
	b.skipConv(b.in, v, 8)
	g := b.done(t)
	if a != 4 || v != 8 || c != 11 || g.NextID != 18 {
		t.Fatalf("mixed genome: vertices %d %d %d next_id %d, want 4 8 11 18", a, v, c, g.NextID)
	}
	return g
}

// mutOneEdge checks that child differs from parent in exactly one edge
// (vertices, the other edges, the learning rate and the ID counter are
// unchanged) and returns that edge before and after.
func mutOneEdge(t *testing.T, parent, child *Genome) (before, after Edge) {
	t.Helper()
	d := mutDiff(parent, child)
	if len(d.addedV)+len(d.removedV)+len(d.changedV)+len(d.addedE)+len(d.removedE) != 0 || len(d.changedE) != 1 {
		t.Fatalf("%v; want exactly one edge changed", d)
	}
	if child.LearningRate != parent.LearningRate || child.NextID != parent.NextID || child.FCWeightID != parent.FCWeightID {
		t.Fatalf("lr %g next_id %d fc %d, want %g %d %d", child.LearningRate, child.NextID, child.FCWeightID,
			parent.LearningRate, parent.NextID, parent.FCWeightID)
	}
	return *parent.Edge(d.changedE[0]), *child.Edge(d.changedE[0])
}

// mutFlag marks vertex v's outputs (outputs true) or inputs immutable and
// returns g.
func mutFlag(g *Genome, v uint32, outputs bool) *Genome {
	if outputs {
		g.Vertex(v).OutputsMutable = false
	} else {
		g.Vertex(v).InputsMutable = false
	}
	return g
}
