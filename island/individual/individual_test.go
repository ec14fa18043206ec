package individual

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

// TestStatusText: a Status is written and read by its name, as the API's
// JSON and the store's records have always named it; the zero Status is
// "" and anything else is refused.
func TestStatusText(t *testing.T) {
	for st, name := range map[Status]string{Training: "training", Alive: "alive", Dead: "dead"} {
		if st.String() != name {
			t.Errorf("%d.String() = %q, want %q", uint8(st), st.String(), name)
		}
		b, err := json.Marshal(struct {
			S Status `json:"status"`
		}{st})
		if err != nil || string(b) != `{"status":"`+name+`"}` {
			t.Errorf("JSON of %v: %s, %v", st, b, err)
		}
		var back struct {
			S Status `json:"status"`
		}
		if err := json.Unmarshal(b, &back); err != nil || back.S != st {
			t.Errorf("%s read back as %v, %v", b, back.S, err)
		}
		if got, err := ParseStatus(name); err != nil || got != st {
			t.Errorf("ParseStatus(%q) = %v, %v", name, got, err)
		}
	}
	var zero Status
	if b, err := json.Marshal(zero); err != nil || string(b) != `""` {
		t.Errorf("JSON of the zero Status: %s, %v", b, err)
	}
	if err := json.Unmarshal([]byte(`""`), &zero); err != nil || zero != 0 {
		t.Errorf(`"" read as %v, %v`, zero, err)
	}
	if err := json.Unmarshal([]byte(`"remote"`), &zero); err == nil {
		t.Error(`"remote" read as a Status`)
	}
	if _, err := json.Marshal(Status(9)); err == nil {
		t.Error("status(9) encoded")
	}
	if Status(0).Valid() || Status(4).Valid() || Status(9).String() != "status(9)" {
		t.Error("an unknown status counts as valid, or is misnamed")
	}
}

// TestNew: a new individual carries its genome's ID, encoding, parent,
// mutation and parameters.
func TestNew(t *testing.T) {
	g := dna.Initial(dna.Shape{H: 8, W: 8, C: 1}, 10, 0.1)
	born := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ind, err := New(g, "peer", born)
	if err != nil {
		t.Fatal(err)
	}
	if ind.ID != g.ID() || ind.Parent != g.Parent || ind.Mutation != "" || ind.Origin != "peer" || !ind.Born.Equal(born) ||
		ind.Params != g.Params() || ind.Status != 0 {
		t.Errorf("initial individual %+v", ind)
	}
	back, err := ind.DecodeGenome()
	if err != nil || back.ID() != g.ID() {
		t.Fatalf("genome read back: %v", err)
	}
	child := g.Clone()
	child.Parent, child.Mutation = g.ID(), dna.AlterLearningRate
	child.LearningRate = 0.05
	c, err := New(child, "peer", born)
	if err != nil {
		t.Fatal(err)
	}
	if c.Parent != g.ID() || c.Mutation != dna.AlterLearningRate.String() || c.ID == g.ID() {
		t.Errorf("child %s of %s by %q", c.ID.Short(), c.Parent.Short(), c.Mutation)
	}
}
