package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/node"
)

func TestReadPlan(t *testing.T) {
	p, err := ReadPlan(strings.NewReader(`{
		"seeds": [1, 2],
		"duration": "2m",
		"configurations": [
			{"name": "isolated", "experiment": {"preset": "smoke"}, "nodes": 4},
			{"name": "one-node", "experiment": {"preset": "smoke", "population": 16}, "cores_per_node": 4},
			{"name": "connected", "experiment": {"preset": "smoke"}, "nodes": 2, "topology": "connected", "cores_per_node": 2}
		]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "experiment" || time.Duration(p.Sample) != 3*time.Second {
		t.Errorf("defaults: name %q, sample %v; want experiment, 3s (2m/40)", p.Name, time.Duration(p.Sample))
	}
	c := p.Configurations[0]
	if c.Topology != Isolated || c.CoresPerNode != 1 || c.Cores() != 4 || c.Duration != p.Duration {
		t.Errorf("first configuration's defaults: %+v", c)
	}
	if p.MaxCores() != 4 {
		t.Errorf("MaxCores %d; want 4", p.MaxCores())
	}
	runs := p.Runs()
	if len(runs) != 6 || runs[0].String() != "isolated seed 1" || runs[1].String() != "one-node seed 1" || runs[3].Dir() != "runs/isolated/seed-2" {
		t.Errorf("runs: %v", runs)
	}
	e, err := p.Configurations[1].experiment(7)
	if err != nil || e.Seed != 7 || e.Population != 16 || e.Preset != "smoke" {
		t.Errorf("experiment: %+v, %v; want smoke, population 16, seed 7", e, err)
	}
	again, err := ReadPlan(bytes.NewReader(p.Canonical()))
	if err != nil || !bytes.Equal(again.Canonical(), p.Canonical()) {
		t.Errorf("the canonical form does not read back to itself: %v\n%s", err, p.Canonical())
	}
}

func TestReadPlanRefuses(t *testing.T) {
	const cfgA = `{"name": "a", "experiment": {"preset": "smoke"}}`
	for _, tc := range []struct{ name, plan, want string }{
		{"unequal cores", `{"seeds": [1], "duration": "1m", "configurations": [` + cfgA + `, {"name": "b", "experiment": {"preset": "smoke"}, "nodes": 2}]}`, "equal total cores"},
		{"unequal time", `{"seeds": [1], "duration": "1m", "configurations": [` + cfgA + `, {"name": "b", "experiment": {"preset": "smoke"}, "duration": "2m"}]}`, "equal wall time"},
		{"seed in the experiment", `{"seeds": [1], "duration": "1m", "configurations": [{"name": "a", "experiment": {"preset": "smoke", "seed": 3}}]}`, `"seed" is set by the plan`},
		{"bad experiment field", `{"seeds": [1], "duration": "1m", "configurations": [{"name": "a", "experiment": {"preset": "smoke", "populaton": 3}}]}`, "populaton"},
		{"no experiment", `{"seeds": [1], "duration": "1m", "configurations": [{"name": "a"}]}`, "experiment: missing"},
		{"unknown plan field", `{"seeds": [1], "duration": "1m", "sed": 1, "configurations": [` + cfgA + `]}`, "sed"},
		{"no seeds", `{"duration": "1m", "configurations": [` + cfgA + `]}`, "seeds"},
		{"seed twice", `{"seeds": [1, 1], "duration": "1m", "configurations": [` + cfgA + `]}`, "twice"},
		{"bad duration", `{"seeds": [1], "duration": "soon", "configurations": [` + cfgA + `]}`, "duration"},
		{"bad topology", `{"seeds": [1], "duration": "1m", "configurations": [{"name": "a", "experiment": {}, "topology": "ring"}]}`, "topology"},
		{"bad name", `{"seeds": [1], "duration": "1m", "configurations": [{"name": "a/b", "experiment": {}}]}`, "name"},
		{"name twice", `{"seeds": [1], "duration": "1m", "configurations": [` + cfgA + `, ` + cfgA + `]}`, "twice"},
	} {
		_, err := ReadPlan(strings.NewReader(tc.plan))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v; want one mentioning %q", tc.name, err, tc.want)
		}
	}
	// allow_unequal lets the first two through.
	if _, err := ReadPlan(strings.NewReader(`{"seeds": [1], "duration": "1m", "allow_unequal": true, "configurations": [` + cfgA +
		`, {"name": "b", "experiment": {"preset": "smoke"}, "nodes": 2, "duration": "2m"}]}`)); err != nil {
		t.Errorf("allow_unequal: %v", err)
	}
}

func TestRunnerCheck(t *testing.T) {
	p, err := ReadPlan(strings.NewReader(`{"seeds": [1], "duration": "1m", "configurations": [{"name": "a", "experiment": {"preset": "smoke"}, "nodes": 2, "cores_per_node": 2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &Runner{Plan: p, Out: dir, Cores: 2}
	if err := r.Check(); err == nil || !strings.Contains(err.Error(), "4 cores") {
		t.Errorf("a 4-core run on 2 cores: %v", err)
	}
	r.Cores = 9
	if err := r.Check(); err != nil || r.Parallel() != 2 {
		t.Errorf("9 cores: %v, %d in parallel; want 2", err, r.Parallel())
	}
	os.WriteFile(filepath.Join(dir, PlanFile), []byte("{}\n"), 0o644)
	if err := r.Check(); err == nil || !strings.Contains(err.Error(), "another plan") {
		t.Errorf("an output directory of another plan: %v", err)
	}
}

func TestCurveCSV(t *testing.T) {
	nan := math.NaN()
	c := Curve{Config: "a", Seed: 3, Points: []Point{{0, nan, 0, 0, nan, nan}, {1.5, 0.25, 4, 1.5e9, nan, nan}, {3, 0.5, 9, 3.25e9, 0.375, 0.25}}}
	var b bytes.Buffer
	if err := c.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := "seconds,best_val_accuracy,children,flops,nodes_mean_best_val_accuracy,nodes_worst_best_val_accuracy\n" +
		"0.000,,0,0,,\n1.500,0.250000,4,1.5e+09,,\n3.000,0.500000,9,3.25e+09,0.375000,0.250000\n"
	if b.String() != want {
		t.Errorf("curve.csv:\n%s\nwant\n%s", b.String(), want)
	}
	pts, err := ReadCurveCSV(&b)
	if err != nil || len(pts) != 3 || !math.IsNaN(pts[0].BestVal) || !math.IsNaN(pts[1].NodeMean) || pts[2] != c.Points[2] {
		t.Errorf("read back: %+v, %v", pts, err)
	}
	if !hasNodeBests(pts) || hasNodeBests(pts[:2]) {
		t.Error("hasNodeBests: want true only with a per-node value")
	}
	// A curve.csv from before the per-node columns reads with them NaN.
	pts, err = ReadCurveCSV(strings.NewReader("seconds,best_val_accuracy,children,flops\n0.000,,0,0\n3.000,0.500000,9,3.25e+09\n"))
	if err != nil || len(pts) != 2 || pts[1].BestVal != 0.5 || pts[1].Children != 9 || !math.IsNaN(pts[1].NodeMean) || !math.IsNaN(pts[1].NodeWorst) {
		t.Errorf("old curve.csv: %+v, %v", pts, err)
	}
	if _, err := ReadCurveCSV(strings.NewReader("seconds,best_val_accuracy,children,flops\n0.000,,0,0,,\n")); err == nil {
		t.Error("a row longer than its header: no error")
	}
	b.Reset()
	WriteCurvesCSV(&b, []Curve{c})
	if !strings.HasPrefix(b.String(), "configuration,seed,seconds,best_val_accuracy,children,flops,nodes_mean_best_val_accuracy,nodes_worst_best_val_accuracy\na,3,0.000,,0,0,,\n") {
		t.Errorf("curves.csv:\n%s", b.String())
	}
}

func TestWriteOutputs(t *testing.T) {
	p, err := ReadPlan(strings.NewReader(`{"name": "demo", "seeds": [1, 2], "duration": "3m", "configurations": [
		{"name": "a", "experiment": {"preset": "smoke"}}, {"name": "b", "experiment": {"preset": "smoke", "population": 6}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var results []Result
	for i, r := range p.Runs() {
		res := Result{Config: r.Config.Name, Seed: r.Seed, Nodes: 1, Topology: Isolated, CoresPerNode: 1, TestAccuracy: 0.5, Children: 10, FLOPs: 1e9}
		for k := range 4 {
			res.Points = append(res.Points, Point{Seconds: float64(60 * k), BestVal: 0.1*float64(k) + 0.01*float64(i), Children: uint64(k)})
		}
		results = append(results, res)
	}
	s := Summarize(p.ConfigNames(), results)
	dir := t.TempDir()
	if err := WriteOutputs(dir, p, results, s); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{CurvesFile, RunsFile, SummaryFile, PlotPNG, PlotSVG} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() < 100 {
			t.Errorf("%s: %v", name, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, SummaryFile))
	for _, want := range []string{"### demo", "| a | `{\"preset\":\"smoke\"}` | 1 | isolated | 1 | 2 | 31.0% ± 1.4", "| a | b | -1.00 pts |", "(curves.png)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
	var tb bytes.Buffer
	Table(&tb, p, s)
	if !strings.Contains(tb.String(), "two-sided tests") {
		t.Errorf("table:\n%s", tb.String())
	}
}

// TestRunKeepsUnreadableFinishedRun: a run directory with a run.json whose
// curve.csv does not read (say, torn by an interrupt) is a finished run:
// resuming refuses it, naming it, and deletes nothing.
func TestRunKeepsUnreadableFinishedRun(t *testing.T) {
	p, err := ReadPlan(strings.NewReader(`{"seeds": [1], "duration": "1m", "configurations": [{"name": "a", "experiment": {"preset": "smoke"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Plan: p, Out: t.TempDir(), Cores: 2}
	run := p.Runs()[0]
	dir := filepath.Join(r.Out, run.Dir())
	repo := filepath.Join(dir, "node-0")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, RunFile), []byte(`{"configuration": "a", "seed": 1}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, CurveFile), []byte("seconds,best_val"), 0o644)
	_, err = r.run(t.Context(), run)
	if err == nil || !strings.Contains(err.Error(), "finished but does not read") {
		t.Errorf("resuming a finished run with a torn curve.csv: %v; want a refusal", err)
	}
	if _, err := os.Stat(repo); err != nil {
		t.Errorf("the run's node repo is gone: %v", err)
	}
}

// TestRunRefusesAnotherExperiment checks that a finished run is not
// reused for a configuration that now makes a different experiment (a
// preset changed between the run and the resume), and that the run is
// kept.
func TestRunRefusesAnotherExperiment(t *testing.T) {
	r, run, exp := oneRunPlan(t, `{"name": "a", "experiment": {"preset": "smoke"}}`, Env{})
	dir := filepath.Join(r.Out, run.Dir())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := "exp-0123456789abcdef"
	if stale == exp.ID() {
		t.Fatal("the stale ID is the configuration's")
	}
	os.WriteFile(filepath.Join(dir, RunFile), []byte(`{"configuration": "a", "seed": 1, "experiment_id": "`+stale+`", "nodes": 1, "mutations": []}`+"\n"), 0o644)
	var curve bytes.Buffer
	if err := (Curve{Config: "a", Seed: 1, Points: []Point{{Seconds: 0, BestVal: 0.5}}}).WriteCSV(&curve); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, CurveFile), curve.Bytes(), 0o644)
	_, err := r.run(t.Context(), run)
	if err == nil || !strings.Contains(err.Error(), "finished as experiment "+stale) || !strings.Contains(err.Error(), exp.ID()) {
		t.Errorf("resuming a run of another experiment: %v; want a refusal naming both IDs", err)
	}
	if _, err := os.Stat(filepath.Join(dir, RunFile)); err != nil {
		t.Errorf("the finished run is gone: %v", err)
	}
}

// TestRunRedoesARepeatedEnsemble: a finished run whose exported ensemble
// holds one individual twice (a run from before the ensemble took distinct
// individuals) has its ensemble measured again when the plan is resumed,
// and the figure is written into its run.json.
func TestRunRedoesARepeatedEnsemble(t *testing.T) {
	var asked []string
	r, run, exp := oneRunPlan(t, `{"name": "a", "experiment": {"preset": "smoke"}, "nodes": 2}`, Env{
		Ensemble: func(_ context.Context, repos []string, k int, dir string) (float64, error) {
			asked = repos
			for i, id := range []string{"a1", "b2", "c3"}[:k] {
				d := filepath.Join(dir, strconv.Itoa(i+1))
				if err := os.MkdirAll(d, 0o755); err != nil {
					return 0, err
				}
				if err := os.WriteFile(filepath.Join(d, "metrics.json"), []byte(`{"id": "`+id+`"}`), 0o644); err != nil {
					return 0, err
				}
			}
			return 0.875, nil
		},
	})
	dir := filepath.Join(r.Out, run.Dir())
	for i, id := range []string{"a1", "a1", "b2"} {
		d := filepath.Join(dir, EnsembleDir, strconv.Itoa(i+1))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "metrics.json"), []byte(`{"id": "`+id+`"}`), 0o644)
	}
	runJSON := `{"configuration": "a", "seed": 1, "experiment_id": "` + exp.ID() + `", "nodes": 2, "topology": "isolated", "cores_per_node": 1, "mutations": [], "ensemble_test_accuracy": 0.5, "diversity": {"distinct_bests": 1, "lineages": 1}}`
	os.WriteFile(filepath.Join(dir, RunFile), []byte(runJSON+"\n"), 0o644)
	writeGrid(t, r, dir)

	res, err := r.run(t.Context(), run)
	if err != nil {
		t.Fatal(err)
	}
	if res.EnsembleTestAccuracy != 0.875 || len(asked) != 2 {
		t.Errorf("ensemble %v from %d repos, want 0.875 measured again from the run's 2", res.EnsembleTestAccuracy, len(asked))
	}
	if again, err := LoadResult(dir); err != nil || again.EnsembleTestAccuracy != 0.875 {
		t.Errorf("run.json after: ensemble %v (%v), want 0.875", again.EnsembleTestAccuracy, err)
	}
	if repeats, err := ensembleRepeats(filepath.Join(dir, EnsembleDir)); err != nil || repeats {
		t.Errorf("the ensemble directory still repeats an individual (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, EnsembleDir+".new")); !os.IsNotExist(err) {
		t.Errorf("the new ensemble's directory is left over: %v", err)
	}
	// Resumed again: nothing to redo.
	asked = nil
	if _, err := r.run(t.Context(), run); err != nil || asked != nil {
		t.Errorf("second resume: %v, ensemble asked again: %v", err, asked != nil)
	}
}

// writeGrid writes a curve.csv on r's sampling grid (the plan's one
// configuration) into the run directory dir.
func writeGrid(t *testing.T, r *Runner, dir string) {
	t.Helper()
	sample, dur := time.Duration(r.Plan.Sample), time.Duration(r.Plan.Configurations[0].Duration)
	var pts []Point
	for at := time.Duration(0); at < dur; at += sample {
		pts = append(pts, Point{Seconds: at.Seconds(), BestVal: 0.5, NodeMean: 0.5, NodeWorst: 0.5})
	}
	pts = append(pts, Point{Seconds: dur.Seconds(), BestVal: 0.5, NodeMean: 0.5, NodeWorst: 0.5})
	var curve bytes.Buffer
	if err := (Curve{Config: "a", Seed: 1, Points: pts}).WriteCSV(&curve); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CurveFile), curve.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunRefusesAnotherRun checks that a finished run of the right
// experiment is still refused when it is another configuration's (the
// arms of an islands plan share their experiment), another seed's, of
// other nodes, or of another duration or sampling grid: runs copied in by
// hand to pool them must be what the plan would have run.
func TestRunRefusesAnotherRun(t *testing.T) {
	r, run, exp := oneRunPlan(t, `{"name": "a", "experiment": {"preset": "smoke"}, "nodes": 2, "topology": "connected"}`, Env{})
	dir := filepath.Join(r.Out, run.Dir())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	good := map[string]any{"configuration": "a", "seed": 1, "experiment_id": exp.ID(), "nodes": 2, "topology": "connected",
		"cores_per_node": 1, "mutations": []any{}, "diversity": map[string]any{"distinct_bests": 1, "lineages": 1}}
	for _, c := range []struct {
		key   string
		val   any
		grid  func() // changes the plan the curve is written for
		curve string // written over the curve
		want  string
	}{
		{key: "configuration", val: "b", want: `of configuration "b"`},
		{key: "seed", val: 2, want: "of seed 2"},
		{key: "topology", val: "isolated", want: "2 isolated node(s)"},
		{key: "nodes", val: 4, want: "4 connected node(s)"},
		{key: "cores_per_node", val: 2, want: "x 2 core(s)"},
		{grid: func() { r.Plan.Configurations[0].Duration = Duration(30 * time.Second) }, want: "of 30s, not 1m0s"},
		{grid: func() { r.Plan.Sample = Duration(time.Second) }, want: "sampled every 1s, not every 2s"},
		{curve: strings.Join(curveHeader, ",") + "\n0.000,0.5,1,1,0.5,0.5\n", want: "with no curve"},
	} {
		m := maps.Clone(good)
		if c.key != "" {
			m[c.key] = c.val
		}
		b, _ := json.Marshal(m)
		os.WriteFile(filepath.Join(dir, RunFile), b, 0o644)
		dur, sample := r.Plan.Configurations[0].Duration, r.Plan.Sample
		if c.grid != nil {
			c.grid()
		}
		writeGrid(t, r, dir)
		r.Plan.Configurations[0].Duration, r.Plan.Sample = dur, sample
		if c.curve != "" {
			os.WriteFile(filepath.Join(dir, CurveFile), []byte(c.curve), 0o644)
		}
		_, err := r.run(t.Context(), run)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: resuming: %v; want a refusal saying %q", c.want, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, RunFile)); err != nil {
			t.Fatalf("%s: the finished run is gone: %v", c.want, err)
		}
	}
	// The run itself is taken.
	b, _ := json.Marshal(good)
	os.WriteFile(filepath.Join(dir, RunFile), b, 0o644)
	writeGrid(t, r, dir)
	if _, err := r.run(t.Context(), run); err != nil {
		t.Errorf("resuming the plan's own run: %v", err)
	}
}

// oneRunPlan is a runner for a plan of one configuration (config, a JSON
// object) and seed 1, with env, the run, and its experiment; the data
// set's identity is set as if loaded, so that no data is needed.
func oneRunPlan(t *testing.T, config string, env Env) (*Runner, Run, *node.Experiment) {
	t.Helper()
	p, err := ReadPlan(strings.NewReader(`{"seeds": [1], "duration": "1m", "configurations": [` + config + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Plan: p, Out: t.TempDir(), Cores: 2, Env: env}
	run := p.Runs()[0]
	exp, err := run.Config.experiment(run.Seed)
	if err != nil {
		t.Fatal(err)
	}
	r.identities = map[string]string{fmt.Sprintf("%s|%+v", exp.Data, exp.DatasetOptions()): "test-data"}
	exp.DataIdentity = "test-data"
	return r, run, exp
}
