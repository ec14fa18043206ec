package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evoswarm/evoswarm/store"
)

func TestPresetsValid(t *testing.T) {
	for _, name := range Presets() {
		e, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Validate(); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
		// The store must take the weights of the largest network the
		// preset allows (the paper's 50M parameters are 400 MB, beyond
		// Badger's default value-log files).
		mv := maxValueBytes(e)
		if err := (store.Options{MaxValueBytes: mv}).Validate(); err != nil || mv < 4*e.Bounds.MaxParams {
			t.Errorf("preset %s: the store takes values up to %d bytes (%v); its networks' weights reach %d", name, mv, err, 4*e.Bounds.MaxParams)
		}
	}
	if p, _ := Preset("paper"); p.Train.Steps != 25600 || p.InsertMinChannels != 0 {
		t.Errorf("paper preset: %d steps, insert_min_channels %d; want 25600 and the paper's rule (0)", p.Train.Steps, p.InsertMinChannels)
	}
}

func TestExperimentID(t *testing.T) {
	a, _ := Preset("cpu-small")
	b, _ := Preset("cpu-small")
	if a.ID() != b.ID() || len(a.FullID()) != 64 {
		t.Fatalf("the same experiment has IDs %s and %s", a.ID(), b.ID())
	}
	b.Preset = "renamed"
	if a.ID() != b.ID() {
		t.Error("the preset label changed the ID")
	}
	b.Train.Steps++
	if a.ID() == b.ID() {
		t.Error("changing steps per child did not change the ID")
	}
	c, _ := Preset("cpu-small")
	c.Mutations = map[string]float64{"identity": 1, "add-skip": 2}
	d, _ := Preset("cpu-small")
	d.Mutations = map[string]float64{"add-skip": 2, "identity": 1}
	if c.ID() != d.ID() {
		t.Error("the order of mutation weights changed the ID")
	}
}

func TestReadExperimentOverridesPreset(t *testing.T) {
	e, err := ReadExperiment(strings.NewReader(`{"preset":"smoke","population":7,"train":{"steps":9}}`))
	if err != nil {
		t.Fatal(err)
	}
	if e.Population != 7 || e.Train.Steps != 9 || e.Train.BatchSize != 50 || e.ValSize != 200 {
		t.Errorf("got population %d steps %d batch %d val_size %d; want the file's values over the smoke preset", e.Population, e.Train.Steps, e.Train.BatchSize, e.ValSize)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"workers":0}`, "experiment: workers: 0"},
		{`{"selection":"best"}`, "experiment: selection"},
		{`{"train":{"momentum":1.5}}`, "momentum"},
		{`{"bounds":{"max_filter":4}}`, "max_filter"},
		{`{"mutations":{"grow-wings":1}}`, `unknown mutation "grow-wings"`},
		{`{"preset":"huge"}`, `unknown preset "huge"`},
		{`{"initial_learning_rate":50}`, "initial_learning_rate"},
	} {
		_, err := ReadExperiment(strings.NewReader(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line mentioning %q", tc.body, err, tc.want)
		}
	}
}

func TestInitAndExperimentChange(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	e, _ := Preset("smoke")
	id, err := Init(dir, e)
	if err != nil {
		t.Fatal(err)
	}
	_, id2, err := LoadIdentity(dir)
	if err != nil || id2 != id {
		t.Fatalf("identity reloads as %v (%v), want %v", id2, err, id)
	}
	fi, err := os.Stat(filepath.Join(dir, IdentityFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("identity.key mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := Init(dir, e); err == nil {
		t.Error("Init on an existing repo succeeded")
	}
	got, err := LoadRepoExperiment(dir)
	if err != nil || got.ID() != e.ID() {
		t.Fatalf("experiment reloads with ID %v (%v), want %s", got.ID(), err, e.ID())
	}
}

// TestInitOverAPartialRepo: an init interrupted before its experiment.json
// is finished by the next one with the same identity; a repo that has a
// store but lost its experiment.json is refused, identity and store
// untouched, and the error says what to restore.
func TestInitOverAPartialRepo(t *testing.T) {
	e, _ := Preset("smoke")
	dir := filepath.Join(t.TempDir(), "repo")
	id, err := Init(dir, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, ExperimentFile)); err != nil { // as if interrupted
		t.Fatal(err)
	}
	again, err := Init(dir, e)
	if err != nil || again != id {
		t.Fatalf("finishing an interrupted init: peer %v (%v), want the same %v", again, err, id)
	}

	// Now the repo has run: a store exists. Losing experiment.json must not
	// let init make a new node over it.
	if err := os.MkdirAll(filepath.Join(dir, StoreDir), 0o755); err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(filepath.Join(dir, IdentityFile))
	if err := os.Remove(filepath.Join(dir, ExperimentFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRepoExperiment(dir); err == nil || !strings.Contains(err.Error(), "restore") {
		t.Errorf("opening a repo with a store and no experiment: %v, want advice to restore it", err)
	}
	if _, err := Init(dir, e); err == nil || !strings.Contains(err.Error(), "holds a store") {
		t.Errorf("init over a store without its experiment: %v, want a refusal", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, IdentityFile)); string(after) != string(key) {
		t.Error("the refused init replaced the identity")
	}
	if _, err := os.Stat(filepath.Join(dir, ExperimentFile)); err == nil {
		t.Error("the refused init wrote an experiment")
	}
}
