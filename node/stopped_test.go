package node

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/internal/model"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
	"github.com/evoswarm/evoswarm/store"
	"github.com/evoswarm/evoswarm/train"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// TestDaemonFileRoundTrip: the daemon file Run writes reads back as what
// was written, in the same bytes the daemon always wrote; a repo with no
// daemon has none; a broken one is an error naming it.
func TestDaemonFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadDaemon(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no daemon file: %v, want fs.ErrNotExist", err)
	}
	want := Daemon{API: "127.0.0.1:41234", PID: 4242}
	if err := writeDaemon(dir, want); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, DaemonFile))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); s != `{"api":"127.0.0.1:41234","pid":4242}`+"\n" {
		t.Errorf("daemon file %q: not the format scripts read", s)
	}
	got, err := ReadDaemon(dir)
	if err != nil || *got != want {
		t.Fatalf("read back %+v, %v; want %+v", got, err, want)
	}
	if err := os.WriteFile(filepath.Join(dir, DaemonFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDaemon(dir); err == nil || !strings.Contains(err.Error(), DaemonFile) {
		t.Errorf("a torn daemon file: %v, want an error naming it", err)
	}
}

// TestDaemonGet: a daemon's JSON reply is decoded; any other status is an
// error carrying the daemon's message.
func TestDaemonGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/status" {
			http.Error(w, "no such thing", http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(Status{PeerID: "p", Running: true, Alive: 3})
	}))
	defer srv.Close()
	d := Daemon{API: strings.TrimPrefix(srv.URL, "http://")}
	var st Status
	if err := d.Get("/api/v1/status", &st); err != nil || st.PeerID != "p" || st.Alive != 3 {
		t.Errorf("status: %+v, %v", st, err)
	}
	if err := d.Get("/nothing", &st); err == nil || err.Error() != "daemon: no such thing" {
		t.Errorf("a 404: %v, want the daemon's message", err)
	}
}

// testRepo creates a repo over a synthetic IDX data set (no Fashion-MNIST).
func testRepo(t *testing.T) (string, *Experiment) {
	t.Helper()
	data := t.TempDir()
	writeIDX(t, data, 12, 12, 300, 60)
	exp, err := Preset("smoke")
	if err != nil {
		t.Fatal(err)
	}
	exp.Data = data
	dir := filepath.Join(t.TempDir(), "repo")
	if _, err := Init(dir, exp); err != nil {
		t.Fatal(err)
	}
	return dir, exp
}

// lineageIDs are a three-generation lineage: a dead root, its dead child
// and its live grandchild, the best; plus a live unrelated individual.
var (
	rootID  = dna.ID{1}
	childID = dna.ID{2}
	grandID = dna.ID{3}
	otherID = dna.ID{4}
)

// fillStopped records four individuals (see lineageIDs), with the genome g
// and its weights w, in the stopped repo's store, one a minute.
func fillStopped(t *testing.T, dir string, g *dna.Genome, w []byte) {
	t.Helper()
	gb, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, StoreDir), store.Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, ind := range []*store.Individual{
		{ID: rootID, Fitness: 0.2},
		{ID: childID, Parent: rootID, Mutation: "insert-convolution", Fitness: 0.4},
		{ID: grandID, Parent: childID, Mutation: "alter-learning-rate", Fitness: 0.9},
		{ID: otherID, Fitness: 0.5, Immigrant: true},
	} {
		ind.Genome, ind.Born, ind.Origin, ind.Params = gb, start.Add(time.Duration(i)*time.Minute), "test", g.Params()
		if err := st.Update(func(tx *store.Tx) error {
			if err := tx.Insert(ind, w); err != nil {
				return err
			}
			if i < 2 {
				return tx.Kill(ind.ID, "lost", ind.Born.Add(time.Second))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// smallWeights trains the data set's initial genome a few steps.
func smallWeights(t *testing.T, exp *Experiment) (*dna.Genome, []byte) {
	t.Helper()
	data, err := dataset.Load(exp.Data, exp.DatasetOptions())
	if err != nil {
		t.Fatal(err)
	}
	g := dna.Initial(dna.Shape{H: data.H, W: data.W, C: data.C}, data.Classes, exp.InitialLearningRate)
	res, err := train.Train(context.Background(), g, nil, data, exp.Train, train.RunOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	wb, err := res.Weights.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return g, wb
}

// TestStoppedRepoReads: what the tools read of a stopped repo (its
// individuals, a lineage, the best-so-far curve, the status, the check)
// is what was stored.
func TestStoppedRepoReads(t *testing.T) {
	dir, exp := testRepo(t)
	fillStopped(t, dir, dna.Initial(dna.Shape{H: 12, W: 12, C: 1}, 10, exp.InitialLearningRate), store.Seal([]byte("w")))

	list, err := ReadStopped(dir, (*StoppedRepo).Individuals)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]individual.Status{}
	for _, s := range list {
		status[s.ID] = s.Status
	}
	if len(list) != 4 || status[rootID.String()] != individual.Dead || status[grandID.String()] != individual.Alive {
		t.Errorf("individuals: %+v", list)
	}

	l, err := ReadStopped(dir, func(r *StoppedRepo) ([]Ancestor, error) { return r.Lineage("") })
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 3 || l[0].ID != rootID.String() || l[0].Mutation != "initial" || l[2].ID != grandID.String() || l[2].Mutation != "alter-learning-rate" {
		t.Errorf("lineage of the best: %+v", l)
	}
	if l2, err := RepoLineage(dir, otherID.String()); err != nil || len(l2) != 1 || !l2[0].Immigrant {
		t.Errorf("lineage of the immigrant, no daemon: %+v, %v", l2, err)
	}
	if _, err := RepoLineage(dir, "zz"); err == nil {
		t.Error("lineage of a malformed ID: no error")
	}

	pts, err := ReadStopped(dir, (*StoppedRepo).Progress)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 4 || pts[3].Minutes != 3 || pts[3].Best != 0.9 || pts[3].BestID != grandID.String() {
		t.Errorf("progress: %+v", pts)
	}

	st, err := RepoStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Running || st.Alive != 2 || st.Best == nil || st.Best.ID != grandID.String() {
		t.Errorf("status, no daemon: %+v", st)
	}

	v, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK || !v.Opened || v.Alive != 2 || v.Dead != 2 || len(v.IDs) != 4 {
		t.Errorf("verify: %+v", v)
	}

	if _, err := OpenStoppedRepo(t.TempDir()); !errors.Is(err, ErrNoRepo) {
		t.Errorf("a directory with no repo: %v, want ErrNoRepo", err)
	}
}

// TestNeverRunRepoReadsEmpty: the tools read a repo whose daemon has
// never run as an empty population, and reading it does not create its
// store (the daemon creates it, with its own options, when it first runs).
func TestNeverRunRepoReadsEmpty(t *testing.T) {
	dir, _ := testRepo(t)
	st, err := RepoStatus(dir)
	if err != nil || st.Running || st.Alive != 0 || st.Best != nil {
		t.Errorf("status of a never-run repo: %+v, %v", st, err)
	}
	v, err := Verify(dir)
	if err != nil || !v.OK || len(v.IDs) != 0 {
		t.Errorf("verify of a never-run repo: %+v, %v", v, err)
	}
	if pts, err := ReadStopped(dir, (*StoppedRepo).Progress); err != nil || len(pts) != 0 {
		t.Errorf("progress of a never-run repo: %+v, %v", pts, err)
	}
	if _, err := os.Stat(filepath.Join(dir, StoreDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reading a never-run repo created its store: %v", err)
	}
}

// TestRepoStatusAsksTheDaemon: with a daemon file, status and lineage come
// from the daemon's API; a daemon file left by a dead daemon falls back to
// the store.
func TestRepoStatusAsksTheDaemon(t *testing.T) {
	dir, exp := testRepo(t)
	fillStopped(t, dir, dna.Initial(dna.Shape{H: 12, W: 12, C: 1}, 10, exp.InitialLearningRate), store.Seal([]byte("w")))
	unknown := strings.Repeat("ab", 32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/status":
			json.NewEncoder(w).Encode(Status{PeerID: "from-daemon", Running: true})
		case "/api/v1/lineage":
			if id := r.URL.Query().Get("id"); id == unknown {
				http.Error(w, "node: individual "+id+" is not in this repo", http.StatusNotFound)
				return
			}
			json.NewEncoder(w).Encode([]Ancestor{{ID: r.URL.Query().Get("id"), Status: "alive"}})
		}
	}))
	defer srv.Close()
	if err := writeDaemon(dir, Daemon{API: strings.TrimPrefix(srv.URL, "http://"), PID: 1}); err != nil {
		t.Fatal(err)
	}
	if st, err := RepoStatus(dir); err != nil || !st.Running || st.PeerID != "from-daemon" {
		t.Errorf("status with a daemon: %+v, %v", st, err)
	}
	if l, err := RepoLineage(dir, childID.String()); err != nil || len(l) != 1 || l[0].ID != childID.String() {
		t.Errorf("lineage with a daemon: %+v, %v", l, err)
	}
	// The daemon's own refusal is what the caller gets, not the store's
	// lock (which a real daemon holds).
	if _, err := RepoLineage(dir, unknown); err == nil || !strings.Contains(err.Error(), "is not in this repo") {
		t.Errorf("lineage of an individual the daemon does not know: %v, want the daemon's answer", err)
	}

	// Another node answers at the address: the daemon file is stale.
	if err := writeDaemon(dir, Daemon{API: strings.TrimPrefix(srv.URL, "http://"), PID: 1, Peer: "this-repo"}); err != nil {
		t.Fatal(err)
	}
	if st, err := RepoStatus(dir); err != nil || st.Running || st.Alive != 2 {
		t.Errorf("status with a daemon file whose port another node answers: %+v, %v; want the store's", st, err)
	}

	// A port nobody listens on: the daemon is gone.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	if err := writeDaemon(dir, Daemon{API: gone, PID: 1}); err != nil {
		t.Fatal(err)
	}
	if st, err := RepoStatus(dir); err != nil || st.Running || st.Alive != 2 {
		t.Errorf("status with a stale daemon file: %+v, %v", st, err)
	}
	if l, err := RepoLineage(dir, ""); err != nil || len(l) != 3 {
		t.Errorf("lineage with a stale daemon file: %+v, %v", l, err)
	}
}

// TestStoppedRepoRefusedWhileRunning: a repo whose store a daemon holds is
// not opened for reading; the error says what to do.
func TestStoppedRepoRefusedWhileRunning(t *testing.T) {
	dir, _ := testRepo(t)
	st, err := store.Open(filepath.Join(dir, StoreDir), store.Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for name, open := range map[string]func() error{
		"read":   func() error { _, err := OpenStoppedRepo(dir); return err },
		"verify": func() error { _, err := Verify(dir); return err },
	} {
		if err := open(); err == nil || !strings.Contains(err.Error(), "another evoswarm process is using") {
			t.Errorf("%s while a daemon holds the store: %v", name, err)
		}
	}
}

// TestExportEvalClassify: an individual of a stopped repo exported as a
// model; Eval on it reproduces the test accuracy Export measured, an
// ensemble of it with itself votes the same, and a Classifier names
// classes for an image file. On a synthetic data set the test writes.
func TestExportEvalClassify(t *testing.T) {
	dir, exp := testRepo(t)
	g, w := smallWeights(t, exp)
	fillStopped(t, dir, g, w)
	out := t.TempDir()
	r, err := OpenStoppedRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	var measured []int
	var exported []Exported
	err = r.ExportBest(context.Background(), out, 5, func(i, n int) { measured = append(measured, i, n) },
		func(e Exported) { exported = append(exported, e) })
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	// A second export into the same directory is refused: its models and
	// the first's would share the "01-" rank.
	again := r.ExportBest(context.Background(), out, 5, nil, nil)
	r.Close()
	if again == nil || !strings.Contains(again.Error(), "not empty") {
		t.Errorf("exporting into %s a second time: %v, want a refusal", out, again)
	}
	// Two are alive: the grandchild (0.9) first, then the immigrant.
	if len(exported) != 2 || exported[0].ID != grandID || exported[1].ID != otherID || len(measured) != 4 || measured[3] != 2 {
		t.Fatalf("exported %+v (progress %v)", exported, measured)
	}
	e := exported[0]
	if want := filepath.Join(out, "01-"+grandID.Short()); e.Dir != want || e.ValAccuracy != 0.9 || e.Params != g.Params() {
		t.Errorf("export: %+v, want dir %s, val 0.9", e, want)
	}
	for _, f := range []string{model.GenomeFile, model.WeightsFile, model.MetricsFile, model.ONNXFile} {
		if fi, err := os.Stat(filepath.Join(e.Dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("export wrote no %s: %v", f, err)
		}
	}
	m, err := model.Load(e.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Metrics.TestAccuracy != e.TestAccuracy || m.Metrics.ID != grandID.String() || len(m.Metrics.Lineage) != 3 || m.Metrics.Data != exp.Data {
		t.Errorf("metrics.json: %+v", m.Metrics)
	}

	res, err := Eval(context.Background(), []string{e.Dir}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, row := range res.Confusion {
		for _, n := range row {
			total += n
		}
	}
	if res.TestAccuracy != e.TestAccuracy || res.Images != 60 || total != 60 || len(res.Confusion) != 10 {
		t.Errorf("eval: accuracy %v on %d images (confusion counts %d); export measured %v", res.TestAccuracy, res.Images, total, e.TestAccuracy)
	}
	ens, err := Eval(context.Background(), []string{e.Dir, e.Dir}, exp.Data, nil)
	if err != nil || ens.TestAccuracy != e.TestAccuracy || len(ens.Models) != 2 {
		t.Errorf("an ensemble of one model twice: %+v, %v", ens, err)
	}

	img := image.NewGray(image.Rect(0, 0, 24, 24))
	for x := range 24 {
		img.SetGray(x, 4, color.Gray{Y: 220})
	}
	path := filepath.Join(t.TempDir(), "bar.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, img)
	f.Close()
	c, err := OpenClassifier(e.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	classes, err := c.Classify(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(classes) != 3 || classes[0].P < classes[1].P || classes[1].P < classes[2].P || classes[0].P > 1 || math.IsNaN(classes[0].P) || classes[0].Name == "" {
		t.Errorf("classify: %+v", classes)
	}
	if _, err := c.Classify(filepath.Join(t.TempDir(), "none.png"), 3); err == nil {
		t.Error("classify a missing file: no error")
	}
}

// TestFollowRareTypeMovesOn: following a type that does not occur moves
// the cursor to the daemon's newest event at each poll, so no poll reads
// the history from the start again.
func TestFollowRareTypeMovesOn(t *testing.T) {
	dir, _ := testRepo(t)
	var mu sync.Mutex
	newest := uint64(100)
	var afters []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		q := r.URL.Query()
		if q.Get("type") == "" { // the cursor: the newest event of any type
			json.NewEncoder(w).Encode([]EventView{{Seq: newest, Type: store.EventBirth}})
			newest += 10
			return
		}
		afters = append(afters, q.Get("after"))
		json.NewEncoder(w).Encode([]EventView{})
	}))
	defer srv.Close()
	if err := writeDaemon(dir, Daemon{API: strings.TrimPrefix(srv.URL, "http://"), PID: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	polls := 0
	err := FollowEvents(ctx, dir, EventQuery{Types: []store.EventType{store.EventError}}, 10*time.Millisecond, func([]EventView) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, a := range afters {
		if i == 0 {
			continue // the first read starts where the query says
		}
		polls++
		if want := strconv.FormatUint(100+uint64(10*(i-1)), 10); a != want {
			t.Errorf("poll %d read after %q, want %s (the newest event at the poll before)", i, a, want)
		}
	}
	if polls < 3 {
		t.Errorf("%d polls in 2 s", polls)
	}
}
