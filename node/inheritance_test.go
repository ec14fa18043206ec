package node

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
	"github.com/evoswarm/evoswarm/store"
	"github.com/evoswarm/evoswarm/train"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// TestInheritanceOption: cpu-small inherits partially and every other
// preset exactly (the paper's rule); the exact mode is left out of the
// canonical form (so experiments from before the option keep their IDs
// and their stores still open), "partial" is in it and reaches the
// training configuration, a whole experiment file from before the option
// (no "inheritance" field) still means exact whatever the preset says now,
// and anything else is refused with the field named.
func TestInheritanceOption(t *testing.T) {
	for _, name := range Presets() {
		e, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		want := train.InheritExact
		if name == "cpu-small" {
			want = train.InheritPartial
		}
		if e.Inheritance != want || e.Train.Inheritance != want {
			t.Errorf("preset %s: inheritance %q, train %q; want %q", name, e.Inheritance, e.Train.Inheritance, want)
		}
		exact := *e
		exact.Inheritance = train.InheritExact
		var canon map[string]json.RawMessage
		if err := json.Unmarshal(exact.Canonical(), &canon); err != nil {
			t.Fatal(err)
		}
		var tr map[string]json.RawMessage
		if err := json.Unmarshal(canon["train"], &tr); err != nil {
			t.Fatal(err)
		}
		if _, ok := canon["inheritance"]; ok {
			t.Errorf("preset %s: the canonical form names exact inheritance: %s", name, exact.Canonical())
		}
		if _, ok := tr["inheritance"]; ok {
			t.Errorf("preset %s: the canonical form's train names inheritance: %s", name, canon["train"])
		}
		unset := exact
		unset.Inheritance = ""
		if unset.FullID() != exact.FullID() {
			t.Errorf("preset %s: inheritance \"\" and %q give different IDs", name, train.InheritExact)
		}

		// The experiment.json a repo of this preset got before the option
		// existed: every field but inheritance. It still means exact.
		var file map[string]any
		if err := json.Unmarshal(exact.MarshalIndent(), &file); err != nil {
			t.Fatal(err)
		}
		if file["inheritance"] != train.InheritExact {
			t.Errorf("preset %s: experiment.json does not name its inheritance: %v", name, file["inheritance"])
		}
		delete(file, "inheritance")
		old, _ := json.MarshalIndent(file, "", "  ")
		got, err := ReadExperiment(strings.NewReader(string(old)))
		if err != nil {
			t.Fatal(err)
		}
		if got.Inheritance != train.InheritExact || got.Train.Inheritance != train.InheritExact || got.FullID() != exact.FullID() {
			t.Errorf("preset %s: a repo's experiment.json from before the option reads as %q (train %q), ID %s; want exact, %s",
				name, got.Inheritance, got.Train.Inheritance, got.FullID(), exact.FullID())
		}
	}

	read := func(body string) *Experiment {
		t.Helper()
		e, err := ReadExperiment(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return e
	}
	def := read(`{"preset":"cpu-small"}`)
	exact := read(`{"preset":"cpu-small","inheritance":"exact"}`)
	partial := read(`{"preset":"cpu-small","inheritance":"partial"}`)
	if partial.ID() != def.ID() || def.Train.Inheritance != train.InheritPartial {
		t.Errorf("cpu-small by default: %s (train %q), with \"partial\" named %s", def.ID(), def.Train.Inheritance, partial.ID())
	}
	if exact.ID() == def.ID() || exact.Train.Inheritance != train.InheritExact {
		t.Errorf("\"exact\" did not change cpu-small: %s (train %q)", exact.ID(), exact.Train.Inheritance)
	}
	smoke, smokeExact := read(`{"preset":"smoke"}`), read(`{"preset":"smoke","inheritance":"exact"}`)
	if smokeExact.ID() != smoke.ID() {
		t.Errorf("an explicit \"exact\" changed smoke's ID: %s, default %s", smokeExact.ID(), smoke.ID())
	}
	if !strings.Contains(string(partial.Canonical()), `"inheritance":"partial"`) {
		t.Errorf("canonical form of a partial experiment: %s", partial.Canonical())
	}
	// The repo's experiment.json names the mode, and reads back the same.
	for _, e := range []*Experiment{partial, exact} {
		back, err := ReadExperiment(strings.NewReader(string(e.MarshalIndent())))
		if err != nil || back.FullID() != e.FullID() || back.Train.Inheritance != e.Inheritance {
			t.Errorf("experiment.json of a %s experiment reads back as %v, %v", e.Inheritance, back, err)
		}
	}

	for _, tc := range []struct{ body, want string }{
		{`{"inheritance":"some"}`, "experiment: inheritance: \"some\""},
		{`{"train":{"inheritance":"partial"}}`, "inheritance"},
	} {
		if _, err := ReadExperiment(strings.NewReader(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.body, err, tc.want)
		}
	}
}

// TestLineageInheritance: the trainer reports what a child took whole,
// sliced and new from its parent, the store keeps it, and the lineage
// shows it.
func TestLineageInheritance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	split := func(n int) *dataset.Split {
		sp := &dataset.Split{N: n, Pixels: make([]uint8, n*64), Labels: make([]uint8, n)}
		for i := range sp.Pixels {
			sp.Pixels[i] = uint8(rng.IntN(256))
		}
		for i := range sp.Labels {
			sp.Labels[i] = uint8(rng.IntN(3))
		}
		return sp
	}
	data := &dataset.Set{Name: "noise", Format: "idx", H: 8, W: 8, C: 1, Classes: 3,
		Train: split(32), Val: split(16), Test: split(0), Mean: []float32{0.5}, Std: []float32{0.3}, Identity: "noise"}
	cfg := train.DefaultConfig()
	cfg.Steps, cfg.BatchSize, cfg.EvalBatch = 2, 8, 16
	cfg.Inheritance = train.InheritPartial
	tr := newTrainer(data, cfg, nil)

	parent := dna.Initial(dna.Shape{H: 8, W: 8, C: 1}, 3, 0.1)
	o := dna.DefaultMutateOptions()
	o.InsertMinChannels = 4 // the output vertex widens from 1 to 4 channels: the FC layer is sliced
	child, _, err := dna.MutateWith(parent, dna.InsertConvolution, rng, o)
	if err != nil {
		t.Fatal(err)
	}
	pout, err := tr.Train(context.Background(), parent, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	cout, err := tr.Train(context.Background(), child, pout.Weights, 2)
	if err != nil {
		t.Fatal(err)
	}
	if in := pout.Inherited; in.Whole != 0 || in.Sliced != 0 || in.New != parent.Params() {
		t.Errorf("initial individual: %+v, want all %d values new", in, parent.Params())
	}
	if in := cout.Inherited; in.Whole == 0 || in.Sliced == 0 || in.New == 0 {
		t.Errorf("child: %+v, want values inherited whole (the FC bias), sliced (the FC weight) and new (the conv)", in)
	}

	st, err := store.Open("mem", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pop := population{st}
	now := time.Now()
	for i, c := range []struct {
		g   *dna.Genome
		out *island.Outcome
	}{{parent, pout}, {child, cout}} {
		ind, err := individual.New(c.g, "local", now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ind.Fitness, ind.Steps = c.out.Fitness, c.out.Steps
		ind.InheritedParams, ind.SlicedParams, ind.NewParams = c.out.Inherited.Whole, c.out.Inherited.Sliced, c.out.Inherited.New
		if err := pop.Begin(ind); err != nil {
			t.Fatal(err)
		}
		if err := pop.Insert(ind, c.out.Weights); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Lineage(st, child.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 {
		t.Fatalf("lineage of %d steps, want 2", len(l))
	}
	for i, out := range []*island.Outcome{pout, cout} {
		a := l[i]
		if got := (island.Inherited{Whole: a.InheritedParams, Sliced: a.SlicedParams, New: a.NewParams}); got != out.Inherited {
			t.Errorf("lineage step %d: %+v, the trainer said %+v", i, got, out.Inherited)
		}
	}
}
