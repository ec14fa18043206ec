package dna

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// mnist is the input of the tests' initial genomes.
var mnist = Shape{H: 28, W: 28, C: 1}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// TestMutationChains is the property test: thousands of random mutation
// chains from the initial genome. Every child must be valid and within
// bounds, every mutation must occur, and each one's effect is checked.
func TestMutationChains(t *testing.T) {
	chains, maxLen := 10000, 200
	if testing.Short() {
		chains = 500
	}
	o := DefaultMutateOptions()
	o.InsertMinChannels = 8
	seen := map[Kind]int{}
	rng := newRand(1)
	for c := range chains {
		g := Initial(mnist, 10, PaperLearningRate)
		n := 1 + rng.IntN(maxLen)
		for step := range n {
			child, ch, err := Mutate(g, rng, o)
			if err != nil {
				t.Fatalf("chain %d step %d: %v", c, step, err)
			}
			if err := child.Validate(o.Bounds); err != nil {
				t.Fatalf("chain %d step %d: %s made an invalid child: %v", c, step, ch.Kind, err)
			}
			if err := child.CheckEvolvable(); err != nil { // what peers' genomes are held to
				t.Fatalf("chain %d step %d: %s made a child CheckEvolvable refuses: %v", c, step, ch.Kind, err)
			}
			if child.Parent != g.ID() || child.Mutation != ch.Kind {
				t.Fatalf("chain %d step %d: lineage is parent %s mutation %s, want %s %s", c, step, child.Parent.Short(), child.Mutation, g.ID().Short(), ch.Kind)
			}
			if err := checkEffect(g, child, ch, o); err != "" {
				t.Fatalf("chain %d step %d: %s (%s): %s", c, step, ch.Kind, ch.Detail, err)
			}
			seen[ch.Kind]++
			g = child
		}
	}
	for _, k := range Kinds() {
		if seen[k] == 0 {
			t.Errorf("mutation %s never occurred", k)
		}
	}
	t.Logf("mutations applied: %v", seen)
}

// checkEffect returns what is wrong with child as the result of ch applied
// to parent, or "".
func checkEffect(parent, child *Genome, ch Change, o MutateOptions) string {
	dv := len(child.Vertices) - len(parent.Vertices)
	de := len(child.Edges) - len(parent.Edges)
	dc := child.NumConvs() - parent.NumConvs()
	sameShape := func() string {
		if dv != 0 || de != 0 || dc != 0 {
			return "the graph changed size"
		}
		return ""
	}
	switch ch.Kind {
	case AlterLearningRate:
		r := child.LearningRate / parent.LearningRate
		if r < 0.5-1e-12 || r > 2+1e-12 {
			return "learning rate ratio outside [0.5, 2]"
		}
		if len(ch.Created)+len(ch.Dropped) != 0 {
			return "weights changed"
		}
		return sameShape()
	case KeepTraining:
		if !sameArchitecture(parent, child) || child.LearningRate != parent.LearningRate {
			return "the architecture changed"
		}
		if len(ch.Created)+len(ch.Dropped) != 0 {
			return "weights changed"
		}
	case ResetWeights:
		if len(ch.Kept) != 0 || len(ch.Created) != len(parent.WeightIDs()) {
			return "not every weight ID was renewed"
		}
		return sameShape()
	case InsertConvolution:
		if dv != 1 || de != 1 || dc != 1 {
			return "want one more vertex, edge and conv"
		}
		if len(ch.Dropped) != 0 || len(ch.Created) < 1 {
			return "want a new conv weight and nothing dropped"
		}
	case RemoveConvolution:
		if dv != -1 || dc != -1 {
			return "want one vertex and one conv fewer"
		}
		if len(ch.Created) != 0 || len(ch.Dropped) < 1 {
			return "want the conv's weights dropped and nothing created"
		}
	case InsertOneToOne:
		if dv != 1 || de != 1 || dc != 0 {
			return "want one more vertex and identity edge"
		}
	case AddSkip:
		if dv != 0 || de != 1 || dc != 0 {
			return "want exactly one more identity edge"
		}
		e := child.Edges[len(child.Edges)-1]
		if e.Type != Identity || parent.Edge(e.ID) != nil {
			return "the new edge is not an identity edge"
		}
	case RemoveSkip:
		if dv != 0 || de != -1 || dc != 0 {
			return "want exactly one edge fewer"
		}
	case AlterStride, AlterNumberOfChannels, FilterSize:
		if s := sameShape(); s != "" {
			return s
		}
		var changed []int
		for i := range child.Edges {
			if child.Edges[i] != parent.Edges[i] {
				changed = append(changed, i)
			}
		}
		if len(changed) != 1 {
			return "want exactly one edge changed"
		}
		a, b := parent.Edges[changed[0]], child.Edges[changed[0]]
		if a.Type != Conv {
			return "changed an identity edge"
		}
		switch ch.Kind {
		case AlterStride:
			if d := b.StrideLog2 - a.StrideLog2; (d != 1 && d != -1) || a.Channels != b.Channels || a.FilterH != b.FilterH || a.FilterW != b.FilterW {
				return "want only the stride changed, by a factor of 2"
			}
		case AlterNumberOfChannels:
			if b.Channels == a.Channels || b.Channels < a.Channels/2 || b.Channels > 2*a.Channels || a.StrideLog2 != b.StrideLog2 || a.FilterH != b.FilterH || a.FilterW != b.FilterW {
				return "want only the channels changed, within [half, twice]"
			}
		case FilterSize:
			dh, dw := b.FilterH-a.FilterH, b.FilterW-a.FilterW
			if !((dh == 0) != (dw == 0)) || (dh != 0 && dh != 2 && dh != -2) || (dw != 0 && dw != 2 && dw != -2) {
				return "want exactly one filter dimension changed by 2"
			}
			if b.FilterH%2 == 0 || b.FilterW%2 == 0 || a.Channels != b.Channels || a.StrideLog2 != b.StrideLog2 {
				return "want an odd filter and nothing else changed"
			}
		}
	default:
		return "unknown mutation"
	}
	return ""
}

// sameArchitecture compares everything but the lineage fields.
func sameArchitecture(a, b *Genome) bool {
	if len(a.Vertices) != len(b.Vertices) || len(a.Edges) != len(b.Edges) || a.FCWeightID != b.FCWeightID {
		return false
	}
	for i := range a.Vertices {
		if a.Vertices[i] != b.Vertices[i] {
			return false
		}
	}
	for i := range a.Edges {
		if a.Edges[i] != b.Edges[i] {
			return false
		}
	}
	return true
}

// TestMutateDeterministic: the same parent, options and seed give the same
// child, bit for bit.
func TestMutateDeterministic(t *testing.T) {
	run := func() []ID {
		rng := newRand(42)
		g := Initial(mnist, 10, PaperLearningRate)
		var ids []ID
		for range 300 {
			child, _, err := Mutate(g, rng, DefaultMutateOptions())
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, child.ID())
			g = child
		}
		return ids
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d: ids differ between runs: %s vs %s", i, a[i].Short(), b[i].Short())
		}
	}
}

// TestMutateWeights: a mutation with weight 0 never occurs, and one with all
// the weight always does.
func TestMutateWeights(t *testing.T) {
	o := DefaultMutateOptions()
	o.Weights = map[Kind]float64{InsertConvolution: 1}
	rng := newRand(3)
	g := Initial(mnist, 10, PaperLearningRate)
	for i := range 20 {
		child, ch, err := Mutate(g, rng, o)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Kind != InsertConvolution {
			t.Fatalf("step %d: got %s, want only insert-convolution", i, ch.Kind)
		}
		g = child
	}
	if got := g.NumConvs(); got != 20 {
		t.Errorf("after 20 insertions: %d convs, want 20", got)
	}
	o.Weights = map[Kind]float64{RemoveSkip: 1}
	if _, _, err := Mutate(Initial(mnist, 10, 0.1), rng, o); err == nil {
		t.Error("remove-skip on a genome with no skips: want an error, got a child")
	}
}

// TestInsertMinChannels: the paper's rule keeps the input's channels; the
// documented floor raises them.
func TestInsertMinChannels(t *testing.T) {
	for _, tc := range []struct{ floor, want int }{{0, 1}, {16, 16}} {
		o := DefaultMutateOptions()
		o.InsertMinChannels = tc.floor
		child, _, err := MutateWith(Initial(mnist, 10, 0.1), InsertConvolution, newRand(1), o)
		if err != nil {
			t.Fatal(err)
		}
		e := child.Edges[len(child.Edges)-1]
		if e.Type != Conv || e.Channels != tc.want || e.FilterH != 3 || e.FilterW != 3 {
			t.Errorf("floor %d: inserted %v conv with %d channels %dx%d, want 3x3 with %d", tc.floor, e.Type, e.Channels, e.FilterH, e.FilterW, tc.want)
		}
	}
}

// TestRemoveConvolutionKeepsOutput: removing the last conv before the output
// merges its source into the output vertex, which survives.
func TestRemoveConvolutionKeepsOutput(t *testing.T) {
	o := DefaultMutateOptions()
	rng := newRand(9)
	g := Initial(mnist, 10, 0.1)
	for range 2 {
		c, _, err := MutateWith(g, InsertConvolution, rng, o)
		if err != nil {
			t.Fatal(err)
		}
		g = c
	}
	for g.NumConvs() > 0 {
		c, _, err := MutateWith(g, RemoveConvolution, rng, o)
		if err != nil {
			t.Fatal(err)
		}
		if c.Vertex(c.OutputVertex) == nil || c.Vertex(c.InputVertex) == nil {
			t.Fatal("the input or output vertex was removed")
		}
		g = c
	}
	if _, _, err := MutateWith(g, RemoveConvolution, rng, o); err == nil {
		t.Error("removing a conv from a genome without convs: want not applicable")
	}
	// A conv straight from the input to the output has nothing to merge.
	direct := Initial(mnist, 10, 0.1)
	e := &direct.Edges[0]
	e.Type, e.Channels, e.FilterH, e.FilterW, e.WeightID = Conv, 4, 3, 3, direct.newID()
	if err := direct.Validate(o.Bounds); err != nil {
		t.Fatal(err)
	}
	if _, _, err := MutateWith(direct, RemoveConvolution, rng, o); err == nil {
		t.Error("removing the only conv between input and output: want not applicable")
	}
}

func TestAlterLearningRateRange(t *testing.T) {
	rng := newRand(5)
	g := Initial(mnist, 10, 0.1)
	lo, hi := math.Inf(1), 0.0
	for range 2000 {
		c, _, err := MutateWith(g, AlterLearningRate, rng, DefaultMutateOptions())
		if err != nil {
			t.Fatal(err)
		}
		r := c.LearningRate / g.LearningRate
		lo, hi = min(lo, r), max(hi, r)
	}
	if lo < 0.5 || hi > 2 || lo > 0.55 || hi < 1.9 {
		t.Errorf("ratios span [%g, %g], want about [0.5, 2]", lo, hi)
	}
}

// TestCheckEvolvable: a genome with an immutable side anywhere but the
// input's inputs and the output's outputs is refused, naming the vertex;
// the initial genome and a mixed evolved one pass (and every chain of
// TestMutationChains does).
func TestCheckEvolvable(t *testing.T) {
	for name, g := range map[string]*Genome{"initial": Initial(mnist, 10, 0.1), "mixed": mutMixedGenome(t)} {
		if err := g.CheckEvolvable(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, tc := range []struct {
		vertex  uint32
		inputs  bool // freeze the inputs, else the outputs
		message string
	}{
		{8, true, "vertex 8 has immutable inputs"},
		{8, false, "vertex 8 has immutable outputs"},
	} {
		g := mutMixedGenome(t)
		for i := range g.Vertices {
			if g.Vertices[i].ID == tc.vertex {
				if tc.inputs {
					g.Vertices[i].InputsMutable = false
				} else {
					g.Vertices[i].OutputsMutable = false
				}
			}
		}
		if err := g.CheckEvolvable(); err == nil || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: %v", tc.message, err)
		}
	}
	g := Initial(mnist, 10, 0.1)
	for i := range g.Vertices {
		if g.Vertices[i].ID == g.OutputVertex {
			g.Vertices[i].InputsMutable = false
		}
	}
	if err := g.CheckEvolvable(); err == nil {
		t.Error("the output vertex with immutable inputs: no error")
	}
}
