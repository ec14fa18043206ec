package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/evoswarm/evoswarm/internal/testnet"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// inheritNet is input 12x12x1 -> conv 3x3 (6) -> bn_relu a -> conv 3x3/2
// (8) -> linear b -> conv 1x1 (8) -> bn_relu c -> output, with a skip
// input -> b: every kind of tensor, a 1x1 filter to grow, and a vertex
// whose channels reach the fully connected layer.
func inheritNet(t testing.TB) *dna.Genome {
	t.Helper()
	g := chain(dna.Shape{H: 12, W: 12, C: 1}, 4, 0.05, []convSpec{{6, 3, 3, 0, true}, {8, 3, 3, 1, false}, {8, 1, 1, 0, true}})
	var b uint32
	for _, e := range g.Edges {
		if e.Type == dna.Conv && e.Channels == 8 && e.FilterH == 3 {
			b = e.To
		}
	}
	g.Edges = append(g.Edges, dna.Edge{ID: g.NextID, From: g.InputVertex, To: b, Type: dna.Identity})
	g.NextID++
	if err := g.Validate(dna.DefaultBounds()); err != nil {
		t.Fatal(err)
	}
	return g
}

// trainedParent trains g briefly, so that its weights and batch norm's
// running statistics are not their initial values.
func trainedParent(t *testing.T, g *dna.Genome) *Weights {
	t.Helper()
	res, err := Train(context.Background(), g, nil, quadrants(t, 200), smallConfig(30), RunOptions{Seed: 21})
	if err != nil {
		t.Fatal(err)
	}
	return res.Weights
}

func partialConfig() Config {
	c := smallConfig(0)
	c.Inheritance = InheritPartial
	return c
}

// layout builds child's model from parent's weights in the given mode.
func layout(t *testing.T, child *dna.Genome, parent *Weights, mode string, seed uint64) (*Weights, Inheritance) {
	t.Helper()
	cfg := smallConfig(0)
	cfg.Inheritance = mode
	m, inh := newModel(child, mustResolve(t, child), parent, &cfg, rand.New(rand.NewPCG(seed, 1)))
	return m.weights, inh
}

// checkPartial checks a partially inheriting child's tensors against its
// parent's, element by element, with its own index arithmetic: a tensor
// of the same shape is the parent's; one of another shape holds the
// parent's values wherever the two overlap (channels by index, filters by
// their centres) and, elsewhere, what is new: He-initialised output
// channels of a conv kernel, zero for the rest of a kernel and for the
// fully connected layer's new inputs, a fresh vertex's batch norm values.
// It checks that the counts add up and returns how many tensors were
// sliced.
func checkPartial(t *testing.T, parent, child *Weights, inh Inheritance) int {
	t.Helper()
	var want Inheritance
	for _, k := range child.Keys() {
		c := child.Tensors[k]
		p, ok := parent.Tensors[k]
		switch {
		case !ok:
			want.NewTensors++
			want.NewParams += int64(len(c.Data))
			continue
		case sameShape(p.Shape, c.Shape):
			want.InheritedTensors++
			want.InheritedParams += int64(len(c.Data))
			for i := range c.Data {
				if c.Data[i] != p.Data[i] {
					t.Fatalf("%s: value %d is %v, the parent's is %v", k, i, c.Data[i], p.Data[i])
				}
			}
			continue
		}
		want.SlicedTensors++
		var cs, ps [4]int
		for d := range 4 {
			cs[d], ps[d] = 1, 1
		}
		copy(cs[:], c.Shape)
		copy(ps[:], p.Shape)
		conv := strings.HasPrefix(k, "conv/")
		var off [4]int // child index minus parent index, per dimension
		if conv {
			off[2], off[3] = (cs[2]-ps[2])/2, (cs[3]-ps[3])/2
		}
		newRows := map[int]bool{}
		i := 0
		for a := range cs[0] {
			for b := range cs[1] {
				for h := range cs[2] {
					for w := range cs[3] {
						v := c.Data[i]
						i++
						pi := [4]int{a - off[0], b - off[1], h - off[2], w - off[3]}
						in := true
						for d := range 4 {
							in = in && pi[d] >= 0 && pi[d] < ps[d]
						}
						if in {
							want.SlicedParams++
							pv := p.Data[((pi[0]*ps[1]+pi[1])*ps[2]+pi[2])*ps[3]+pi[3]]
							if v != pv {
								t.Fatalf("%s%v: %v, the parent's %v is %v", k, [4]int{a, b, h, w}, v, pi, pv)
							}
							continue
						}
						want.NewParams++
						var fresh float32
						switch {
						case conv && a >= ps[0]:
							newRows[a] = newRows[a] || v != 0
							continue
						case strings.HasSuffix(k, "/scale"), strings.HasSuffix(k, "/var"):
							fresh = 1
						}
						if v != fresh {
							t.Fatalf("%s%v: new value %v, want %v", k, [4]int{a, b, h, w}, v, fresh)
						}
					}
				}
			}
		}
		for a, nonzero := range newRows {
			if !nonzero {
				t.Errorf("%s: new output channel %d is all zero, want He-initialised", k, a)
			}
		}
	}
	want.Mode = InheritPartial
	if inh != want {
		t.Errorf("inheritance %+v, counted %+v", inh, want)
	}
	if total := inh.InheritedParams + inh.SlicedParams + inh.NewParams; total != child.Params() {
		t.Errorf("%d + %d + %d values, the child has %d", inh.InheritedParams, inh.SlicedParams, inh.NewParams, child.Params())
	}
	if n := inh.InheritedTensors + inh.SlicedTensors + inh.NewTensors; n != len(child.Tensors) {
		t.Errorf("%d + %d + %d tensors, the child has %d", inh.InheritedTensors, inh.SlicedTensors, inh.NewTensors, len(child.Tensors))
	}
	return want.SlicedTensors
}

// exactLayout is newModel as it was before partial inheritance, written
// out again as the reference for the exact mode: the same tensors in the
// same order, each copied if its key and shape match and drawn from rng
// otherwise.
func exactLayout(g *dna.Genome, r *dna.Resolved, parent *Weights, rng *rand.Rand) *Weights {
	w := &Weights{Tensors: map[string]*Tensor{}}
	add := func(key string, shape []int, fanIn int, fill float32) {
		t := &Tensor{Shape: shape}
		t.Data = make([]float32, t.Size())
		if p, ok := parent.lookup(key); ok && sameShape(p.Shape, shape) {
			copy(t.Data, p.Data)
		} else {
			for i := range t.Data {
				if fanIn > 0 {
					t.Data[i] = float32(rng.NormFloat64() * math.Sqrt(2/float64(fanIn)))
				} else {
					t.Data[i] = fill
				}
			}
		}
		w.Tensors[key] = t
	}
	for j, e := range g.Edges {
		if e.Type == dna.Conv {
			cin := r.VertexShape[g.VertexIndex(e.From)].C
			add(convKey(e.WeightID), []int{r.EdgeShape[j].C, cin, e.FilterH, e.FilterW}, cin*e.FilterH*e.FilterW, 0)
		}
	}
	for i, v := range g.Vertices {
		if v.Type == dna.BNReLU {
			c := r.VertexShape[i].C
			add(bnKey(v.WeightID, "scale"), []int{c}, 0, 1)
			add(bnKey(v.WeightID, "offset"), []int{c}, 0, 0)
			add(bnKey(v.WeightID, "mean"), []int{c}, 0, 0)
			add(bnKey(v.WeightID, "var"), []int{c}, 0, 1)
		}
	}
	c := r.VertexShape[g.VertexIndex(g.OutputVertex)].C
	add(fcKey(g.FCWeightID, "weight"), []int{g.Classes, c}, c, 0)
	add(fcKey(g.FCWeightID, "bias"), []int{g.Classes}, 0, 0)
	return w
}

// checkExact checks that the exact mode (and the empty one) lays out
// child exactly as before partial inheritance existed.
func checkExact(t *testing.T, parent *Weights, child *dna.Genome) {
	t.Helper()
	ref := exactLayout(child, mustResolve(t, child), parent, rand.New(rand.NewPCG(9, 1)))
	for _, mode := range []string{"", InheritExact} {
		w, inh := layout(t, child, parent, mode, 9)
		if inh.SlicedTensors != 0 || inh.SlicedParams != 0 || inh.Mode != InheritExact {
			t.Errorf("mode %q: %+v, want nothing sliced", mode, inh)
		}
		if inh.InheritedParams+inh.NewParams != w.Params() {
			t.Errorf("mode %q: %+v does not add up to %d values", mode, inh, w.Params())
		}
		for _, k := range ref.Keys() {
			a, b := w.Tensors[k], ref.Tensors[k]
			if a == nil || !sameShape(a.Shape, b.Shape) {
				t.Fatalf("mode %q: tensor %s is %v, want shape %v", mode, k, a, b.Shape)
			}
			for i := range a.Data {
				if a.Data[i] != b.Data[i] {
					t.Fatalf("mode %q: %s[%d] = %v, before partial inheritance %v", mode, k, i, a.Data[i], b.Data[i])
				}
			}
		}
		if len(w.Tensors) != len(ref.Tensors) {
			t.Errorf("mode %q: %d tensors, want %d", mode, len(w.Tensors), len(ref.Tensors))
		}
	}
}

// convChange finds the one conv edge whose channels or filter differ
// between parent and child, and returns (old, new) of what changed.
func convChange(parent, child *dna.Genome) (what string, old, new int) {
	for _, e := range child.Edges {
		p := parent.Edge(e.ID)
		if p == nil || e.Type != dna.Conv || p.Type != dna.Conv {
			continue
		}
		switch {
		case p.Channels != e.Channels:
			return "channels", p.Channels, e.Channels
		case p.FilterH != e.FilterH:
			return "filter", p.FilterH, e.FilterH
		case p.FilterW != e.FilterW:
			return "filter", p.FilterW, e.FilterW
		}
	}
	return "", 0, 0
}

// reshaped reports whether some tensor key of child is also parent's with
// another shape, by the reference layout's shapes.
func reshaped(t *testing.T, parent, child *dna.Genome) bool {
	p := exactLayout(parent, mustResolve(t, parent), nil, rand.New(rand.NewPCG(1, 1)))
	c := exactLayout(child, mustResolve(t, child), nil, rand.New(rand.NewPCG(1, 1)))
	for k, ct := range c.Tensors {
		if pt, ok := p.Tensors[k]; ok && !sameShape(pt.Shape, ct.Shape) {
			return true
		}
	}
	return false
}

// mutant returns the first child of parent by kind (over a range of
// seeds) that accept takes.
func mutant(t *testing.T, parent *dna.Genome, kind dna.Kind, o dna.MutateOptions, accept func(child *dna.Genome) bool) *dna.Genome {
	t.Helper()
	for seed := range uint64(200) {
		child, _, err := dna.MutateWith(parent, kind, rand.New(rand.NewPCG(seed, 3)), o)
		if err == nil && accept(child) {
			return child
		}
	}
	t.Fatalf("no %s child of the kind wanted in 200 seeds", kind)
	return nil
}

// TestPartialInheritance: a child made by each shape-changing mutation
// keeps, with partial inheritance, every value of its parent's tensors
// where the old and new shapes overlap, initialises only the rest, and
// counts whole, sliced and new values so that they add up; with exact
// inheritance it is laid out as before partial inheritance existed.
func TestPartialInheritance(t *testing.T) {
	parent := inheritNet(t)
	pw := trainedParent(t, parent)
	o := dna.DefaultMutateOptions()
	o.Bounds.MaxChannels = 32
	wide := o
	wide.InsertMinChannels = 10 // more than any vertex has: the next layer's shape changes
	changed := func(what string, up bool) func(*dna.Genome) bool {
		return func(c *dna.Genome) bool {
			w, a, b := convChange(parent, c)
			return w == what && (b > a) == up && reshaped(t, parent, c)
		}
	}
	reshapes := func(c *dna.Genome) bool { return reshaped(t, parent, c) }
	all := func(*dna.Genome) bool { return true }
	cases := []struct {
		name   string
		kind   dna.Kind
		o      dna.MutateOptions
		accept func(*dna.Genome) bool
		sliced bool // the mutation must reshape an inherited tensor
	}{
		{"alter-number-of-channels up", dna.AlterNumberOfChannels, o, changed("channels", true), true},
		{"alter-number-of-channels down", dna.AlterNumberOfChannels, o, changed("channels", false), true},
		{"filter-size up", dna.FilterSize, o, changed("filter", true), true},
		{"filter-size down", dna.FilterSize, o, changed("filter", false), true},
		{"insert-convolution", dna.InsertConvolution, wide, reshapes, true},
		{"remove-convolution", dna.RemoveConvolution, o, reshapes, true},
		// These never change a tensor's shape: partial is exact.
		{"alter-stride", dna.AlterStride, o, all, false},
		{"insert-convolution (paper's channels)", dna.InsertConvolution, o, all, false},
		{"insert-one-to-one", dna.InsertOneToOne, o, all, false},
		{"add-skip", dna.AddSkip, o, all, false},
		{"remove-skip", dna.RemoveSkip, o, all, false},
		{"identity", dna.KeepTraining, o, all, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			child := mutant(t, parent, c.kind, c.o, c.accept)
			w, inh := layout(t, child, pw, InheritPartial, 9)
			n := checkPartial(t, pw, w, inh)
			if c.sliced && n == 0 {
				t.Errorf("%s: no tensor was sliced", child.Mutation)
			}
			if !c.sliced && n != 0 {
				t.Errorf("%s: %d tensors sliced, want none", child.Mutation, n)
			}
			checkExact(t, pw, child)
			t.Logf("partial %+v", inh)
		})
	}
}

// TestPartialInheritanceEvolved: the same checks over random children of
// random children of evolved genomes (skips, several inputs to a vertex,
// every mutation).
func TestPartialInheritanceEvolved(t *testing.T) {
	o := dna.DefaultMutateOptions()
	o.InsertMinChannels = 4
	o.Bounds.MaxParams = 50_000
	o.Bounds.MaxFLOPs = 10_000_000
	o.Bounds.MaxChannels = 16
	sliced := 0
	for seed := range uint64(4) {
		g, err := testnet.Evolved(dna.Shape{H: 12, W: 12, C: 1}, 4, seed+20, 4, 2, 10, o)
		if err != nil {
			t.Fatal(err)
		}
		cfg := smallConfig(0)
		m, _ := newModel(g, mustResolve(t, g), nil, &cfg, rand.New(rand.NewPCG(seed, 2)))
		pw := m.weights
		rng := rand.New(rand.NewPCG(seed, 4))
		for range 30 {
			child, _, err := dna.Mutate(g, rng, o)
			if err != nil {
				t.Fatal(err)
			}
			w, inh := layout(t, child, pw, InheritPartial, seed)
			sliced += checkPartial(t, pw, w, inh)
			checkExact(t, pw, child)
		}
	}
	if sliced == 0 {
		t.Error("no child had a tensor sliced")
	}
}

// TestPartialInheritanceKeepsFunction: a child that only grows (more
// channels, a larger filter) computes, before training, what its parent
// computed: the same logits on a batch, within float32 rounding (the
// sums have more, zero, terms), and the same validation accuracy on every
// CPU engine this build has.
func TestPartialInheritanceKeepsFunction(t *testing.T) {
	data := quadrants(t, 200)
	for _, parent := range []*dna.Genome{inheritNet(t), skipNet(t)} {
		pres, err := Train(context.Background(), parent, nil, data, smallConfig(30), RunOptions{Seed: 22})
		if err != nil {
			t.Fatal(err)
		}
		o := dna.DefaultMutateOptions()
		o.Bounds.MaxChannels = 32
		for _, kind := range []dna.Kind{dna.AlterNumberOfChannels, dna.FilterSize} {
			found := false
			for seed := range uint64(40) {
				child, _, err := dna.MutateWith(parent, kind, rand.New(rand.NewPCG(seed, 5)), o)
				if err != nil {
					continue
				}
				if _, a, b := convChange(parent, child); b <= a {
					continue
				}
				cfg := partialConfig()
				pnet, err := NewNetwork(parent, pres.Weights, cfg)
				if err != nil {
					t.Fatal(err)
				}
				cnet, err := newNetwork(child, mustResolve(t, child), pres.Weights, &cfg, rand.New(rand.NewPCG(seed, 6)))
				if err != nil {
					t.Fatal(err)
				}
				if cnet.Inheritance().SlicedTensors == 0 {
					t.Fatalf("%s: nothing sliced", child.Mutation)
				}
				const batch = 16
				x := make([]float32, batch*144)
				lb := make([]int32, batch)
				idx := make([]int, batch)
				for i := range idx {
					idx[i] = i
				}
				if err := data.Batch(data.Val, idx, dataset.Augment{}, nil, x, lb); err != nil {
					t.Fatal(err)
				}
				pl, err := pnet.Logits(x, batch)
				if err != nil {
					t.Fatal(err)
				}
				cl, err := cnet.Logits(x, batch)
				if err != nil {
					t.Fatal(err)
				}
				pnet.Close()
				cnet.Close()
				for i := range pl {
					if d := math.Abs(float64(pl[i] - cl[i])); d > 1e-5*math.Max(1, math.Abs(float64(pl[i]))) {
						t.Fatalf("%s (seed %d): logit %d is %v, the parent's %v", child.Mutation, seed, i, cl[i], pl[i])
					}
				}
				for _, engine := range []string{EngineGorgonia, EngineAuto} {
					res, err := Train(context.Background(), child, pres.Weights, data, cfg, RunOptions{Seed: 1, Engine: engine})
					if err != nil {
						t.Fatal(err)
					}
					if res.ValAccuracy != pres.ValAccuracy {
						t.Errorf("%s (seed %d), engine %s: val %v before training, the parent's %v", child.Mutation, seed, res.Engine, res.ValAccuracy, pres.ValAccuracy)
					}
				}
				found = true
				break // one child of each kind per parent
			}
			if !found {
				t.Errorf("no %s child that grows", kind)
			}
		}
	}
}

// TestInheritanceComplete: a child with a sliced tensor is not complete
// (what building a network from its own weights must check), one built
// from its own weights is.
func TestInheritanceComplete(t *testing.T) {
	parent := inheritNet(t)
	cfg := partialConfig()
	m, _ := newModel(parent, mustResolve(t, parent), nil, &cfg, rand.New(rand.NewPCG(1, 1)))
	child := mutant(t, parent, dna.AlterNumberOfChannels, dna.DefaultMutateOptions(), func(*dna.Genome) bool { return true })
	_, inh := layout(t, child, m.weights, InheritPartial, 1)
	if inh.Complete() || inh.NewTensors != 0 {
		t.Errorf("%+v: want sliced tensors, none new, not complete", inh)
	}
	if _, inh := layout(t, parent, m.weights, InheritPartial, 1); !inh.Complete() {
		t.Errorf("own weights: %+v, want complete", inh)
	}
}

func TestInheritanceConfig(t *testing.T) {
	for _, mode := range []string{"", InheritExact, InheritPartial} {
		c := DefaultConfig()
		c.Inheritance = mode
		if err := c.Validate(); err != nil {
			t.Errorf("%q: %v", mode, err)
		}
	}
	c := DefaultConfig()
	c.Inheritance = "some"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "inheritance") {
		t.Errorf("inheritance \"some\": %v, want an error naming the field", err)
	}
}

// TestOwnWeightsMustFitUnderPartial: evaluating, predicting with or
// building a network from weights that are meant to be an individual's own
// refuses weights of another shape in every inheritance mode; partial
// inheritance must not slice them into place (a migrant whose weights do
// not fit its genome would otherwise be re-measured, and exported).
func TestOwnWeightsMustFitUnderPartial(t *testing.T) {
	parent := inheritNet(t)
	pw := trainedParent(t, parent)
	child := mutant(t, parent, dna.AlterNumberOfChannels, dna.DefaultMutateOptions(), func(*dna.Genome) bool { return true })
	data := quadrants(t, 200)
	for _, mode := range []string{InheritExact, InheritPartial} {
		cfg := smallConfig(0)
		cfg.Inheritance = mode
		if _, err := Evaluate(context.Background(), child, pw, data, data.Val, cfg); err == nil || !strings.Contains(err.Error(), "lack") {
			t.Errorf("%s: Evaluate with the parent's weights: %v, want a refusal", mode, err)
		}
		if n, err := NewNetwork(child, pw, cfg); err == nil {
			n.Close()
			t.Errorf("%s: NewNetwork with the parent's weights succeeded", mode)
		}
		if _, err := Evaluate(context.Background(), parent, pw, data, data.Val, cfg); err != nil {
			t.Errorf("%s: Evaluate with its own weights: %v", mode, err)
		}
	}
}

// TestNonFiniteWeights: weights holding a NaN or an infinity measure
// nothing (Evaluate and Predict refuse them as corrupt: an immigrant's are
// its sender's fault, and errors.Is tells the caller so), and a child
// does not inherit such a tensor from its parent (a diverged parent's, or
// a poisoned batch-norm variance): it starts afresh.
func TestNonFiniteWeights(t *testing.T) {
	parent := inheritNet(t)
	pw := trainedParent(t, parent)
	data := quadrants(t, 200)
	cfg := smallConfig(0)
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		w := &Weights{Tensors: map[string]*Tensor{}}
		var poisoned string
		for k, v := range pw.Tensors {
			c := &Tensor{Shape: v.Shape, Data: slices.Clone(v.Data)}
			if poisoned == "" || k < poisoned {
				poisoned = k
			}
			w.Tensors[k] = c
		}
		w.Tensors[poisoned].Data[0] = bad
		if _, err := Evaluate(context.Background(), parent, w, data, data.Val, cfg); !errors.Is(err, ErrCorruptWeights) {
			t.Errorf("Evaluate with %v in %s: %v, want ErrCorruptWeights", bad, poisoned, err)
		}
		if _, err := Predict(context.Background(), parent, w, data, data.Val, cfg); !errors.Is(err, ErrCorruptWeights) {
			t.Errorf("Predict with %v in %s: %v, want ErrCorruptWeights", bad, poisoned, err)
		}
		m, inh := newModel(parent, mustResolve(t, parent), w, &cfg, rand.New(rand.NewPCG(1, 1)))
		if inh.NewTensors != 1 || !m.weights.finite() {
			t.Errorf("a child of weights with %v in %s: %+v, finite %v; want that one tensor new, all finite", bad, poisoned, inh, m.weights.finite())
		}
	}
}

// TestEvalLanes: the oneDNN engine's concurrent inference passes are as
// many as asked only where the memory budget holds them beside what
// EstimateMemory counts; at least one always runs.
func TestEvalLanes(t *testing.T) {
	g := inheritNet(t)
	r := mustResolve(t, g)
	cfg := smallConfig(0)
	base := EstimateMemory(g, r, &cfg)
	lane := 4 * (activationFloats(g, r)*int64(cfg.EvalBatch) + 2*g.Params())
	for _, tc := range []struct {
		budget     int64
		want, got1 int
	}{
		{base, 8, 1},        // nothing spare: one pass
		{base + lane, 8, 2}, // room for one more
		{base + 3*lane + 1, 8, 4},
		{base + 100*lane, 8, 8}, // plenty: as asked
		{base + 100*lane, 1, 1},
		{base - 1, 8, 1}, // over budget already (check refuses such a genome)
	} {
		cfg.MemoryBudget = tc.budget
		if got := evalLanes(g, r, &cfg, tc.want); got != tc.got1 {
			t.Errorf("budget base%+d, want %d lanes: got %d, expected %d", tc.budget-base, tc.want, got, tc.got1)
		}
	}
}
