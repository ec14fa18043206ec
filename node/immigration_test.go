package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/gossip"
	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
	"github.com/evoswarm/evoswarm/train"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPresetMigration(t *testing.T) {
	paper, _ := Preset("paper")
	if m := paper.Migration; m.Topology != "all" || m.AdmitEvery != 0 || m.RemeasureShare != 0.1 {
		t.Errorf("paper preset: %+v; want everyone hearing everyone, re-measuring capped at 10%%", m)
	}
	for _, name := range []string{"cpu-small", "gpu-small", "smoke"} {
		e, _ := Preset(name)
		m := e.Migration
		if m.Topology != "random" || m.Neighbours < 1 || m.AdmitEvery < 1 || !(m.RemeasureShare > 0) {
			t.Errorf("preset %s: %+v; want a sparse topology and a bounded admission", name, m)
		}
		if !strings.Contains(string(e.Canonical()), `"topology":"random"`) {
			t.Errorf("preset %s: the topology is not part of the ID: %s", name, e.Canonical())
		}
	}
}

// TestLegacyMigrationID: an experiment without the immigration settings
// keeps the canonical form (and ID) it had before they existed, and a repo
// created then still opens, with those settings: everyone hears everyone,
// every announcement is admitted. So does a copy of its experiment.json
// given to init --experiment.
func TestLegacyMigrationID(t *testing.T) {
	old, _ := Preset("cpu-small")
	old.Migration = Migration{EveryReproductions: 10, IntervalSeconds: 120, Topology: "all"}
	if c := string(old.Canonical()); !strings.Contains(c, `"migration":{"every_reproductions":10,"interval_seconds":120},"seed":1}`) {
		t.Fatalf("legacy canonical form changed: %s", c)
	}
	// The experiment.json such a repo got before the settings existed.
	var file map[string]any
	if err := json.Unmarshal(old.MarshalIndent(), &file); err != nil {
		t.Fatal(err)
	}
	file["migration"] = map[string]any{"every_reproductions": 10, "interval_seconds": 120}
	b, _ := json.MarshalIndent(file, "", "  ")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ExperimentFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadRepoExperiment(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != old.ID() || !got.Migration.legacy() {
		t.Errorf("the legacy repo opens as %s with %+v, want %s with the legacy settings", got.ID(), got.Migration, old.ID())
	}
	if copied, err := ReadExperiment(strings.NewReader(string(b))); err != nil || copied.ID() != old.ID() {
		t.Errorf("a copy of the legacy experiment.json reads as %v (%v), want %s", copied.ID(), err, old.ID())
	}
	// Written today, the file names every setting, and reads back the same.
	if w := string(old.MarshalIndent()); !strings.Contains(w, `"topology": "all"`) || !strings.Contains(w, `"admit_every": 0`) {
		t.Errorf("experiment.json does not name the immigration settings:\n%s", w)
	}
	if back, err := ReadExperiment(strings.NewReader(string(old.MarshalIndent()))); err != nil || back.ID() != old.ID() {
		t.Errorf("the written legacy experiment reads back as %v (%v)", back.ID(), err)
	}
	// A user's partial file without them gets the preset's.
	partial, err := ReadExperiment(strings.NewReader(`{"preset":"cpu-small","migration":{"every_reproductions":10,"interval_seconds":120}}`))
	if err != nil || partial.Migration.Topology != "random" {
		t.Errorf("partial file: %+v, %v; want the preset's topology", partial.Migration, err)
	}
}

// TestMigrationSettingsRoundTrip: what a file sets, a repo keeps, zeros
// included (a 0 is a setting, not "the preset's").
func TestMigrationSettingsRoundTrip(t *testing.T) {
	for _, body := range []string{
		`{"preset":"cpu-small"}`,
		`{"preset":"cpu-small","migration":{"admit_every":0,"remeasure_share":0}}`,
		`{"preset":"cpu-small","migration":{"topology":"ring","neighbours":3}}`,
		`{"preset":"smoke","migration":{"topology":"all","remeasure_share":0.2}}`,
		`{"preset":"paper"}`,
	} {
		e, err := ReadExperiment(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		dir := t.TempDir()
		if _, err := Init(dir, e); err != nil {
			t.Fatal(err)
		}
		back, err := LoadRepoExperiment(dir)
		if err != nil || back.ID() != e.ID() || back.Migration != e.Migration {
			t.Errorf("%s: the repo reads back as %+v (%v), want %+v", body, back.Migration, err, e.Migration)
		}
	}
	e, _ := ReadExperiment(strings.NewReader(`{"preset":"cpu-small","migration":{"topology":"all"}}`))
	if e.Migration.Neighbours != 0 || e.Migration.ReshuffleSeconds != 0 {
		t.Errorf("topology all keeps unused settings %+v in its ID", e.Migration)
	}
	a, _ := ReadExperiment(strings.NewReader(`{"preset":"cpu-small","migration":{"neighbours":3}}`))
	b, _ := ReadExperiment(strings.NewReader(`{"preset":"cpu-small","migration":{"neighbours":4}}`))
	if a.ID() == b.ID() {
		t.Error("the number of neighbours is not part of the ID")
	}
	for _, tc := range []struct{ body, want string }{
		{`{"migration":{"topology":"mesh"}}`, "migration.topology"},
		{`{"migration":{"topology":"ring","neighbours":0}}`, "migration.neighbours"},
		{`{"migration":{"reshuffle_seconds":0}}`, "migration.reshuffle_seconds"},
		{`{"migration":{"admit_every":-1}}`, "migration.admit_every"},
		{`{"migration":{"remeasure_share":1}}`, "migration.remeasure_share"},
		{`{"migration":{"diversity_share":1.5}}`, "migration.diversity_share"},
	} {
		if _, err := ReadExperiment(strings.NewReader(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.body, err, tc.want)
		}
	}
}

// countingWeights serves one blob and counts the fetches.
type countingWeights struct {
	blob []byte
	n    atomic.Int64
}

func (w *countingWeights) Weights(dna.ID) ([]byte, error) {
	w.n.Add(1)
	return w.blob, nil
}

// TestExchangeBoundedAdmission: over a real loopback swarm, a node that
// has trained six individuals with one admission per three admits two of
// the ten announcements it hears; the other eight cost it no fetch and no
// re-measure. The status, the metrics and the dashboard show it.
func TestExchangeBoundedAdmission(t *testing.T) {
	e, _ := Preset("smoke")
	e.Migration = Migration{EveryReproductions: 2, IntervalSeconds: 5, Topology: "all", AdmitEvery: 3}
	exp := e.FullID()
	recv := loopbackSwarm(t, exp, nil)
	w := &train.Weights{Tensors: map[string]*train.Tensor{"fc/3/weight": {Shape: []int{10, 1}, Data: make([]float32, 10)}, "fc/3/bias": {Shape: []int{10}, Data: make([]float32, 10)}}}
	blob, err := w.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	src := &countingWeights{blob: blob}
	sender := loopbackSwarm(t, exp, src, recv.Addrs()[0])
	var measured atomic.Int64
	x := &exchange{
		sw: recv, exp: e, self: recv.ID(), in: make(chan island.Migrant, 16), recent: map[dna.ID][]byte{},
		measure: func(context.Context, *dna.Genome, []byte) (float64, error) { measured.Add(1); return 0.5, nil },
		log:     testLog(t),
	}
	nb := island.NewNeighbourhood(e.TopologyOf(), island.NewRoster(e.PeerTTL()), 0)
	if x.adm, err = island.NewAdmission(recv.ID().String(), e.AdmissionPolicy(200), nb); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		x.adm.Worked(1e6)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go x.run(ctx)
	go func() {
		for range x.Receive() {
		}
	}()

	// Publish only once each side knows the other is on the topic: an
	// announcement sent before the subscriptions are exchanged reaches no
	// one, and a loaded machine makes that window long.
	for !slices.Contains(sender.TopicPeers(), recv.ID()) || !slices.Contains(recv.TopicPeers(), sender.ID()) {
		if ctx.Err() != nil {
			t.Fatal("the sender and the receiver never saw each other on the topic")
		}
		time.Sleep(20 * time.Millisecond)
	}
	digest, _ := train.Digest(blob)
	for i := 0; x.adm.Stats(time.Now()).Heard < 10; i++ {
		if ctx.Err() != nil {
			t.Fatalf("heard %d of the announcements", x.adm.Stats(time.Now()).Heard)
		}
		if i < 10 {
			g := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
			g.Nonce = uint64(i + 1)
			a := gossip.Announcement{Experiment: exp, Genome: g, ID: g.ID(), Fitness: 0.6, WeightsDigest: digest,
				WeightsSize: int64(len(blob)), Origin: sender.ID(), SentAt: time.Now()}
			if err := sender.Publish(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // admissions in flight finish
	st := x.adm.Stats(time.Now())
	if st.Admitted != 2 || measured.Load() != 2 || src.n.Load() != 2 || x.Remeasured.Load() != 2 {
		t.Errorf("admitted %d, measured %d, fetched %d, re-measured %d; want 2 each (six trained, one per three)",
			st.Admitted, measured.Load(), src.n.Load(), x.Remeasured.Load())
	}

	s, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := &Node{store: s, exp: e, peer: recv.ID().String(), ex: x}
	status, err := n.Status()
	if err != nil {
		t.Fatal(err)
	}
	a := status.Admission
	if a == nil || a.Topology != "all" || a.AdmitEvery != 3 || a.Admitted != 2 || a.Heard != 10 || a.Allowed == nil || *a.Allowed != 2 {
		t.Fatalf("status admission %+v", a)
	}
	js, _ := json.Marshal(status)
	for _, want := range []string{`"admission":{"topology":"all"`, `"admit_every":3`, `"heard":10`, `"admitted":2`, `"allowed":2`, `"remeasure_share":`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("status JSON lacks %s: %s", want, js)
		}
	}

	m := newMetrics(s, x)
	want := `
# HELP evoswarm_admission_limit_every The budget's limit: one admission per this many individuals trained here (migration.admit_every; 0: none).
# TYPE evoswarm_admission_limit_every gauge
evoswarm_admission_limit_every 3
# HELP evoswarm_admission_trained_total Individuals trained here since the daemon started: the count budget's base.
# TYPE evoswarm_admission_trained_total counter
evoswarm_admission_trained_total 6
# HELP evoswarm_migrants_heard_total Announcements that passed validation and were offered to the admission policy.
# TYPE evoswarm_migrants_heard_total counter
evoswarm_migrants_heard_total 10
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "evoswarm_admission_limit_every",
		"evoswarm_admission_trained_total", "evoswarm_migrants_heard_total"); err != nil {
		t.Error(err)
	}
	if got := testutil.CollectAndCount(m.reg, "evoswarm_migrants_admitted_total"); got != 2 {
		t.Errorf("%d admitted series, want claim and novelty", got)
	}
	if got := testutil.CollectAndCount(m.reg, "evoswarm_migrants_ignored_total"); got != 5 {
		t.Errorf("%d ignored series, want one per reason (5)", got)
	}

	_, page := get(t, n.handler(), "/")
	_, js2 := get(t, n.handler(), "/app.js")
	if !strings.Contains(page, `<svg id="budget"`) || !strings.Contains(page, `<dl id="admission"`) || !strings.Contains(js2, "function renderAdmission") {
		t.Error("the dashboard has no immigration section")
	}
}
