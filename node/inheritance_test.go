package node

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/evoswarm/evoswarm/train"
)

// TestInheritanceOption: every preset inherits exactly (the paper's rule),
// the exact mode is left out of the canonical form (so experiments from
// before the option keep their IDs and their stores still open), "partial"
// changes the ID and reaches the training configuration, and anything else
// is refused with the field named.
func TestInheritanceOption(t *testing.T) {
	for _, name := range Presets() {
		e, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if e.Inheritance != train.InheritExact || e.Train.Inheritance != train.InheritExact {
			t.Errorf("preset %s: inheritance %q, train %q; want %q", name, e.Inheritance, e.Train.Inheritance, train.InheritExact)
		}
		var canon map[string]json.RawMessage
		if err := json.Unmarshal(e.Canonical(), &canon); err != nil {
			t.Fatal(err)
		}
		var tr map[string]json.RawMessage
		if err := json.Unmarshal(canon["train"], &tr); err != nil {
			t.Fatal(err)
		}
		if _, ok := canon["inheritance"]; ok {
			t.Errorf("preset %s: the canonical form names the default inheritance: %s", name, e.Canonical())
		}
		if _, ok := tr["inheritance"]; ok {
			t.Errorf("preset %s: the canonical form's train names inheritance: %s", name, canon["train"])
		}
		unset := *e
		unset.Inheritance = ""
		if unset.FullID() != e.FullID() {
			t.Errorf("preset %s: inheritance \"\" and %q give different IDs", name, train.InheritExact)
		}
	}

	def, err := ReadExperiment(strings.NewReader(`{"preset":"cpu-small"}`))
	if err != nil {
		t.Fatal(err)
	}
	exact, err := ReadExperiment(strings.NewReader(`{"preset":"cpu-small","inheritance":"exact"}`))
	if err != nil {
		t.Fatal(err)
	}
	partial, err := ReadExperiment(strings.NewReader(`{"preset":"cpu-small","inheritance":"partial"}`))
	if err != nil {
		t.Fatal(err)
	}
	if exact.ID() != def.ID() {
		t.Errorf("an explicit \"exact\" changed the ID: %s, default %s", exact.ID(), def.ID())
	}
	if partial.ID() == def.ID() {
		t.Error("\"partial\" did not change the ID")
	}
	if partial.Train.Inheritance != train.InheritPartial {
		t.Errorf("partial experiment trains with inheritance %q", partial.Train.Inheritance)
	}
	if !strings.Contains(string(partial.Canonical()), `"inheritance":"partial"`) {
		t.Errorf("canonical form of a partial experiment: %s", partial.Canonical())
	}
	// The repo's experiment.json names the mode, and reads back the same.
	back, err := ReadExperiment(strings.NewReader(string(partial.MarshalIndent())))
	if err != nil || back.FullID() != partial.FullID() {
		t.Errorf("experiment.json of a partial experiment reads back as %v, %v", back, err)
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
