package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/evoswarm/evoswarm/cmd/evoswarm/internal/experiment"
	"github.com/evoswarm/evoswarm/node"
)

// TestExperimentSmoke runs `evoswarm experiment` on the smoke preset: 2
// seeds x 2 configurations of 3 s each at 2 cores a run (two connected
// nodes of one core against one node of two), with real daemons, Badger
// stores and training on Fashion-MNIST. The CSV files, the figure and the
// summary must come out; every curve's best accuracy must never fall; and
// the statistics in summary.md must be those of the curves in curves.csv.
func TestExperimentSmoke(t *testing.T) {
	needFashion(t)
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.json")
	os.WriteFile(plan, []byte(`{"name": "smoke", "seeds": [1, 2], "duration": "3s", "sample": "1s", "configurations": [
		{"name": "pair", "experiment": {"preset": "smoke"}, "nodes": 2, "topology": "connected"},
		{"name": "one", "experiment": {"preset": "smoke", "population": 8}, "cores_per_node": 2}]}`), 0o644)
	out := filepath.Join(dir, "out")
	dry, errOut, code := run(t, nil, "experiment", "--plan", plan, "--out", out, "--cores", "2", "--dry-run")
	if code != 0 || !strings.Contains(dry, "4 runs (2 seeds x 2 configurations), 1 at a time on 2 cores") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, dry, errOut)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the dry run wrote into --out")
	}
	stdout, errOut, code := run(t, nil, "experiment", "--plan", plan, "--out", out, "--cores", "2")
	if code != 0 {
		t.Fatalf("experiment: exit %d\n%s\n%s", code, stdout, errOut)
	}
	t.Logf("\n%s", stdout)
	for _, name := range []string{experiment.PlanFile, experiment.CurvesFile, experiment.RunsFile, experiment.SummaryFile, experiment.PlotSVG} {
		if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	f, err := os.Open(filepath.Join(out, experiment.PlotPNG))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.DecodeConfig(f)
	f.Close()
	if err != nil || img.Width < 400 || img.Height < 200 {
		t.Errorf("curves.png: %+v, %v", img, err)
	}

	// Every run: its curve never falls, its counters never fall, it ends
	// at the duration, and its best individual was exported with the test
	// accuracy run.json reports.
	finals := map[string][]float64{}
	nodeFinals := map[string][]float64{}
	mutations := map[string]bool{}
	for _, cfg := range []string{"pair", "one"} {
		for _, seed := range []int{1, 2} {
			rd := filepath.Join(out, "runs", cfg, fmt.Sprintf("seed-%d", seed))
			res, err := experiment.LoadResult(rd)
			if err != nil {
				t.Fatalf("%s seed %d: %v", cfg, seed, err)
			}
			pts := res.Points
			if len(pts) != 4 || pts[len(pts)-1].Seconds != 3 {
				t.Errorf("%s seed %d: %d points ending at %v s; want 4, at 0, 1, 2 and 3 s", cfg, seed, len(pts), pts[len(pts)-1].Seconds)
			}
			for i := 1; i < len(pts); i++ {
				if pts[i].BestVal < pts[i-1].BestVal || pts[i].Children < pts[i-1].Children || pts[i].FLOPs < pts[i-1].FLOPs {
					t.Errorf("%s seed %d: the curve falls between %+v and %+v", cfg, seed, pts[i-1], pts[i])
				}
			}
			// Each node's own best: the lowest never above the mean, the
			// mean never above the swarm's best, one node's mean its own.
			last := pts[len(pts)-1]
			if !(last.NodeWorst > 0.1) || last.NodeWorst > last.NodeMean || last.NodeMean > last.BestVal+1e-12 ||
				(cfg == "one" && last.NodeMean != last.NodeWorst) {
				t.Errorf("%s seed %d: nodes' bests at the end mean %v, lowest %v, swarm's best %v", cfg, seed, last.NodeMean, last.NodeWorst, last.BestVal)
			}
			nodeFinals[cfg] = append(nodeFinals[cfg], last.NodeMean)
			final := res.Curve().Final()
			if !(final > 0.1) || res.Children == 0 || res.FLOPs <= 0 {
				t.Errorf("%s seed %d: final best %v, %d children, %v FLOPs; want a trained population", cfg, seed, final, res.Children, res.FLOPs)
			}
			finals[cfg] = append(finals[cfg], final)
			// Every child made here with its parent still on record is
			// counted under the mutation that made it.
			counted := 0
			for _, m := range res.Mutations {
				if m.Mutation == "" || m.Improved > m.Children || m.Children == 0 {
					t.Errorf("%s seed %d: mutation row %+v", cfg, seed, m)
				}
				counted += m.Children
				mutations[m.Mutation] = true
			}
			// Two nodes: how far apart their bests are (one node: nothing).
			if d := res.Diversity; cfg == "pair" && (d == nil || d.Bests < 1 || d.Bests > 2 || d.Lineages < 1 || d.Lineages > d.Bests ||
				(d.SplitSeconds != nil && (*d.SplitSeconds < 0 || *d.SplitSeconds > res.Seconds+60))) {
				t.Errorf("%s seed %d: diversity %+v", cfg, seed, d)
			} else if cfg == "one" && d != nil {
				t.Errorf("%s seed %d: diversity %+v for one node", cfg, seed, d)
			}
			if counted == 0 || uint64(counted) > res.Children {
				t.Errorf("%s seed %d: %d children counted by mutation of %d trained", cfg, seed, counted, res.Children)
			}
			var m struct {
				ID           string  `json:"id"`
				TestAccuracy float64 `json:"test_accuracy"`
			}
			b, err := os.ReadFile(filepath.Join(rd, experiment.BestDir, "metrics.json"))
			if err != nil || json.Unmarshal(b, &m) != nil {
				t.Fatalf("%s seed %d: the best individual was not exported: %v", cfg, seed, err)
			}
			if m.ID != res.BestID || m.TestAccuracy != float64(res.TestAccuracy) || !(m.TestAccuracy > 0) {
				t.Errorf("%s seed %d: exported %s with test %v; run.json says %s, %v", cfg, seed, m.ID, m.TestAccuracy, res.BestID, res.TestAccuracy)
			}
			// The top-3 ensemble: three exported models whose majority vote,
			// measured again here, is what run.json reports.
			// Three distinct individuals: one alive on two nodes is one member.
			var members []string
			ids := map[string]bool{}
			for i := 1; i <= experiment.EnsembleSize; i++ {
				d := filepath.Join(rd, experiment.EnsembleDir, strconv.Itoa(i))
				var mm struct {
					ID string `json:"id"`
				}
				b, err := os.ReadFile(filepath.Join(d, "metrics.json"))
				if err != nil || json.Unmarshal(b, &mm) != nil {
					t.Fatalf("%s seed %d: ensemble member %d not exported: %v", cfg, seed, i, err)
				}
				if ids[mm.ID] {
					t.Errorf("%s seed %d: ensemble member %d is %s again", cfg, seed, i, mm.ID)
				}
				ids[mm.ID] = true
				members = append(members, d)
			}
			ens, err := node.Eval(context.Background(), members, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !(ens.TestAccuracy > 0) || ens.TestAccuracy != float64(res.EnsembleTestAccuracy) {
				t.Errorf("%s seed %d: the ensemble's test accuracy %v, run.json says %v", cfg, seed, ens.TestAccuracy, res.EnsembleTestAccuracy)
			}
		}
	}

	// curves.csv holds the same curves: its last row per run is the final.
	fromCSV := map[string][]float64{}
	cf, err := os.Open(filepath.Join(out, experiment.CurvesFile))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(cf).ReadAll()
	cf.Close()
	if err != nil || len(rows) != 1+4*4 {
		t.Fatalf("curves.csv: %d rows, %v; want a header and 16", len(rows), err)
	}
	for i := 1; i < len(rows); i++ {
		if i == len(rows)-1 || rows[i+1][1] != rows[i][1] || rows[i+1][0] != rows[i][0] {
			v, err := strconv.ParseFloat(rows[i][3], 64)
			if err != nil {
				t.Fatal(err)
			}
			fromCSV[rows[i][0]] = append(fromCSV[rows[i][0]], v)
		}
	}
	// The statistics in summary.md are those of these curves.
	md, err := os.ReadFile(filepath.Join(out, experiment.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	for cfg, v := range finals {
		want := fromCSV[cfg]
		if len(want) != 2 || math.Abs(want[0]-v[0]) > 1e-6 || math.Abs(want[1]-v[1]) > 1e-6 {
			t.Errorf("%s: curves.csv finals %v, curve.csv finals %v", cfg, want, v)
		}
		mean := fmt.Sprintf("| %.1f%% ± %.1f |", 100*experiment.Describe(want).Mean, 100*experiment.Describe(want).SD)
		if !strings.Contains(string(md), mean) {
			t.Errorf("summary.md lacks %s's %q:\n%s", cfg, mean, md)
		}
	}
	// Two rows of tests: on the final best, then on the final mean of the
	// nodes' own bests.
	var testRows []string
	for _, l := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(l, "| pair | one |") {
			testRows = append(testRows, l)
		}
	}
	if len(testRows) != 2 {
		t.Fatalf("summary.md has %d test rows of pair against one, want 2:\n%s", len(testRows), md)
	}
	for i, v := range []map[string][]float64{fromCSV, nodeFinals} {
		w := experiment.WelchT(v["pair"], v["one"])
		mw := experiment.MannWhitneyU(v["pair"], v["one"])
		for _, want := range []string{fmt.Sprintf("%.3g |", w.P), fmt.Sprintf("| %g |", mw.U), fmt.Sprintf("%.3g (", mw.P)} {
			if !strings.Contains(testRows[i], want) {
				t.Errorf("summary.md's test row %q lacks %q (Welch %+v, Mann-Whitney %+v)", testRows[i], want, w, mw)
			}
		}
	}

	if !strings.Contains(string(md), "Children against their parents, by mutation") {
		t.Errorf("summary.md lacks the table of mutations:\n%s", md)
	}
	for m := range mutations {
		if !strings.Contains(string(md), "| "+m+" |") {
			t.Errorf("summary.md's table of mutations lacks %s:\n%s", m, md)
		}
	}
	for _, want := range []string{"| configuration | 750ms | 1.5s | 2.25s | 3s |", "best validation accuracy over time"} {
		if !strings.Contains(string(md), want) && !strings.Contains(stdout, want) {
			t.Errorf("neither summary.md nor the output has %q", want)
		}
	}

	// Run again: every run is done, so only the summary is written again;
	// a run.json from before the mutation counts and the diversity gets
	// them from its repos.
	rj := filepath.Join(out, "runs", "pair", "seed-1", experiment.RunFile)
	b, err := os.ReadFile(rj)
	if err != nil {
		t.Fatal(err)
	}
	var old map[string]any
	if err := json.Unmarshal(b, &old); err != nil || old["mutations"] == nil {
		t.Fatalf("run.json: %v, mutations %v", err, old["mutations"])
	}
	if old["diversity"] == nil {
		t.Fatalf("run.json of two nodes without diversity: %s", b)
	}
	delete(old, "mutations")
	delete(old, "diversity")
	b, _ = json.Marshal(old)
	os.WriteFile(rj, b, 0o644)
	again, errOut, code := run(t, nil, "experiment", "--plan", plan, "--out", out, "--cores", "2")
	if code != 0 || strings.Count(again, "done before") != 4 {
		t.Errorf("second run: exit %d, want 4 runs done before:\n%s\n%s", code, again, errOut)
	}
	if md2, _ := os.ReadFile(filepath.Join(out, experiment.SummaryFile)); string(md2) != string(md) {
		t.Errorf("the summary changed when written again:\n%s\nthen\n%s", md, md2)
	}
}
