package experiment

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/evoswarm/evoswarm/internal/report"
)

// WriteOutputs writes a plan's summary files into out: every curve in
// curves.csv, every run's totals in runs.csv, the tables in summary.md
// (markdown for docs/results.md), and the figure as curves.png and
// curves.svg.
func WriteOutputs(out string, p *Plan, results []Result, s Summary) error {
	var curves []Curve
	for _, r := range results {
		curves = append(curves, r.Curve())
	}
	var b bytes.Buffer
	if err := WriteCurvesCSV(&b, curves); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, CurvesFile), b.Bytes(), 0o644); err != nil {
		return err
	}
	b.Reset()
	if err := writeRunsCSV(&b, results); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, RunsFile), b.Bytes(), 0o644); err != nil {
		return err
	}
	b.Reset()
	Markdown(&b, p, results, s)
	if err := os.WriteFile(filepath.Join(out, SummaryFile), b.Bytes(), 0o644); err != nil {
		return err
	}
	fig, err := Plot(p, s)
	if err != nil {
		return err
	}
	for _, name := range []string{PlotPNG, PlotSVG} {
		if err := fig.Save(8*vg.Inch, 5*vg.Inch, filepath.Join(out, name)); err != nil {
			return fmt.Errorf("experiment: %s: %w", name, err)
		}
	}
	return nil
}

func writeRunsCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"configuration", "seed", "experiment_id", "nodes", "topology", "cores_per_node", "seconds",
		"final_best_val_accuracy", "best_id", "best_node", "test_accuracy", "ensemble_test_accuracy", "children", "flops", "cpu",
		"final_nodes_mean_best_val_accuracy", "final_nodes_worst_best_val_accuracy", "build"})
	f := accuracy
	for _, r := range results {
		cw.Write([]string{r.Config, strconv.FormatUint(r.Seed, 10), r.ExperimentID, strconv.Itoa(r.Nodes), r.Topology,
			strconv.Itoa(r.CoresPerNode), strconv.FormatFloat(r.Seconds, 'f', 1, 64), f(r.Curve().Final()), r.BestID,
			strconv.Itoa(r.BestNode), f(float64(r.TestAccuracy)), f(float64(r.EnsembleTestAccuracy)), strconv.FormatUint(r.Children, 10),
			strconv.FormatFloat(r.FLOPs, 'g', 6, 64), r.CPU, f(final(r.Points, func(p Point) float64 { return p.NodeMean })),
			f(final(r.Points, func(p Point) float64 { return p.NodeWorst })), r.Build})
	}
	cw.Flush()
	return cw.Error()
}

// meanSD formats a mean and standard deviation of accuracies in
// percentage points.
func meanSD(s Stats) string {
	switch {
	case s.N == 0:
		return "-"
	case math.IsNaN(s.SD):
		return pct(s.Mean)
	}
	return fmt.Sprintf("%s ± %.1f", pct(s.Mean), 100*s.SD)
}

func minMax(s Stats) string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f–%.1f%%", 100*s.Min, 100*s.Max)
}

func num(v float64, format string) string {
	if math.IsNaN(v) {
		return "-"
	}
	if math.IsInf(v, 0) {
		if v > 0 {
			return "+inf"
		}
		return "-inf"
	}
	return fmt.Sprintf(format, v)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func seedList(p *Plan) string {
	var s []string
	for _, v := range p.Seeds {
		s = append(s, strconv.FormatUint(v, 10))
	}
	return strings.Join(s, ", ")
}

func durations(p *Plan) string {
	seen := map[Duration]bool{}
	var s []string
	for _, c := range p.Configurations {
		if !seen[c.Duration] {
			seen[c.Duration] = true
			s = append(s, time.Duration(c.Duration).String())
		}
	}
	return strings.Join(s, " / ")
}

func (p *Plan) config(name string) *Config {
	for _, c := range p.Configurations {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// mwString is the Mann-Whitney p-value with how it was found.
func mwString(m MannWhitney) string {
	if math.IsNaN(m.P) {
		return "-"
	}
	if m.Exact {
		return fmt.Sprintf("%.3g (exact)", m.P)
	}
	return fmt.Sprintf("%.3g (normal)", m.P)
}

// pairedString is the paired t statistic with the number of seeds.
func pairedString(p Paired) string {
	if math.IsNaN(p.T) {
		return "-"
	}
	return fmt.Sprintf("%.3f (%d)", p.T, p.N)
}

// Table writes the summary as plain-text tables for a terminal.
func Table(w io.Writer, p *Plan, s Summary) {
	fmt.Fprintf(w, "plan %s: %s (%s), %s a run\n", p.Name, plural(len(p.Seeds), "seed"), seedList(p), durations(p))
	fmt.Fprintf(w, "%-16s %5s %-9s %5s %4s  %-16s %-13s %-16s %-16s %9s %10s\n", "configuration", "nodes", "topology", "cores", "runs",
		"final best val", "min-max", "test of best", "test of top-3", "children", "FLOPs")
	for _, c := range s.Configs {
		cfg := p.config(c.Name)
		fmt.Fprintf(w, "%-16s %5d %-9s %5d %4d  %-16s %-13s %-16s %-16s %9s %10s\n", c.Name, cfg.Nodes, cfg.Topology, cfg.Cores(), c.Runs,
			meanSD(c.Final), minMax(c.Final), meanSD(c.Test), meanSD(c.Ensemble), num(c.Children.Mean, "%.0f"), num(c.FLOPs.Mean, "%.3g"))
	}
	if marks := quarters(p); len(marks) > 0 {
		fmt.Fprintf(w, "best validation accuracy over time:\n%-16s", "configuration")
		for _, m := range marks {
			fmt.Fprintf(w, " %-16v", m)
		}
		fmt.Fprintln(w)
		for _, c := range s.Configs {
			fmt.Fprintf(w, "%-16s", c.Name)
			for _, m := range marks {
				fmt.Fprintf(w, " %-16s", bandAt(c, m))
			}
			fmt.Fprintln(w)
		}
	}
	if marks := quarters(p); len(marks) > 0 && s.NodeTests != nil {
		fmt.Fprintf(w, "each node's own best, mean over a run's nodes / lowest node:\n%-16s", "configuration")
		for _, m := range marks {
			fmt.Fprintf(w, " %-27v", m)
		}
		fmt.Fprintln(w)
		for _, c := range s.Configs {
			fmt.Fprintf(w, "%-16s", c.Name)
			for _, m := range marks {
				fmt.Fprintf(w, " %-27s", nodeBandsAt(c, m))
			}
			fmt.Fprintln(w)
		}
	}
	textTests(w, "two-sided tests on the final best validation accuracy:", s.Tests)
	textTests(w, "two-sided tests on the final mean over a run's nodes of each node's best:", s.NodeTests)
}

func textTests(w io.Writer, title string, tests []Comparison) {
	if len(tests) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	fmt.Fprintf(w, "%-16s %-16s %9s %8s %6s %8s %6s %-14s %8s %8s\n", "A", "B", "A-B", "Welch t", "df", "p", "MW U", "p", "paired t", "p")
	for _, t := range tests {
		fmt.Fprintf(w, "%-16s %-16s %9s %8s %6s %8s %6s %-14s %8s %8s\n", t.A, t.B, num(100*t.Diff, "%+.2f pts"), num(t.Welch.T, "%.3f"),
			num(t.Welch.DF, "%.1f"), num(t.Welch.P, "%.3g"), num(t.MannWhitney.U, "%g"), mwString(t.MannWhitney),
			pairedString(t.Paired), num(t.Paired.P, "%.3g"))
	}
}

func markdownTests(w io.Writer, title string, tests []Comparison) {
	if len(tests) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	fmt.Fprintln(w, "\n| A | B | mean A − B | Welch's t | df | p | Mann–Whitney U | p | paired t (seeds) | p |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, t := range tests {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t.A, t.B, num(100*t.Diff, "%+.2f pts"), num(t.Welch.T, "%.3f"),
			num(t.Welch.DF, "%.1f"), num(t.Welch.P, "%.3g"), num(t.MannWhitney.U, "%g"), mwString(t.MannWhitney),
			pairedString(t.Paired), num(t.Paired.P, "%.3g"))
	}
}

// Markdown writes the summary as markdown that can be pasted into
// docs/results.md: the configurations, every run, the tests, and the
// figure (curves.png beside it).
func Markdown(w io.Writer, p *Plan, results []Result, s Summary) {
	fmt.Fprintf(w, "### %s\n\n", p.Name)
	fmt.Fprintf(w, "%s (%s) x %s, %s a run, best validation accuracy sampled every %v "+
		"(`evoswarm experiment --plan PLAN --out DIR`; %s, %s, %s).\n\n",
		plural(len(p.Seeds), "seed"), seedList(p), plural(len(p.Configurations), "configuration"), durations(p), time.Duration(p.Sample), RunsFile, CurvesFile, PlotPNG)
	fmt.Fprintln(w, "| configuration | experiment | nodes | topology | cores per node | runs | final best validation, mean ± sd | min–max | test of the best, mean ± sd | test of the top-3 ensemble, mean ± sd | children, mean | FLOPs, mean |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, c := range s.Configs {
		cfg := p.config(c.Name)
		fmt.Fprintf(w, "| %s | `%s` | %d | %s | %d | %d | %s | %s | %s | %s | %s | %s |\n", c.Name, compact(cfg.Experiment), cfg.Nodes, cfg.Topology,
			cfg.CoresPerNode, c.Runs, meanSD(c.Final), minMax(c.Final), meanSD(c.Test), meanSD(c.Ensemble), num(c.Children.Mean, "%.0f"), num(c.FLOPs.Mean, "%.3g"))
	}
	markdownQuarters(w, "Best validation accuracy over time, mean ± sd over seeds:", quarters(p), s.Configs, bandAt)
	markdownTests(w, "Two-sided tests on the final best validation accuracy:", s.Tests)
	if s.NodeTests != nil {
		markdownQuarters(w, "Each node's own best validation accuracy (what a node of the swarm holds), mean over a run's nodes / lowest node, each mean ± sd over seeds:",
			quarters(p), s.Configs, nodeBandsAt)
	}
	markdownTests(w, "Two-sided tests on the final mean over a run's nodes of each node's best:", s.NodeTests)
	mutationTable(w, s)
	fmt.Fprintln(w, "\nEvery run:")
	if b := builds(results); len(b) > 1 {
		fmt.Fprintf(w, "\nThese runs come from %d builds (%s): pair and pool them knowing that.\n", len(b), strings.Join(b, "; "))
	}
	fmt.Fprintln(w, "\n| configuration | seed | final best validation | nodes' own bests: mean / lowest | test of the best | test of the top-3 ensemble | children | FLOPs | nodes' bests: distinct / lineages / closest split | CPU | build |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		nodes := "-"
		if hasNodeBests(r.Points) {
			last := r.Points[len(r.Points)-1]
			nodes = pct(last.NodeMean) + " / " + pct(last.NodeWorst)
		}
		build := r.Build
		if build == "" {
			build = "-"
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %d | %.3g | %s | %s | %s |\n", r.Config, r.Seed, pct(r.Curve().Final()), nodes, pct(float64(r.TestAccuracy)),
			pct(float64(r.EnsembleTestAccuracy)), r.Children, r.FLOPs, r.Diversity, r.CPU, build)
	}
	fmt.Fprintf(w, "\n![best validation accuracy: mean over seeds, min–max band](%s)\n", PlotPNG)
}

// builds lists the builds that ran results, "unrecorded" standing for
// runs from before Result.Build.
func builds(results []Result) []string {
	var out []string
	for _, r := range results {
		b := r.Build
		if b == "" {
			b = "unrecorded"
		}
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// mutationTable writes, per mutation and configuration, how many children
// it made (with a measured parent on the same node), the share that beat
// their parent's validation accuracy, and the mean change.
func mutationTable(w io.Writer, s Summary) {
	var names []string
	seen := map[string]bool{}
	by := make([]map[string]report.MutationStat, len(s.Configs))
	for i, c := range s.Configs {
		by[i] = map[string]report.MutationStat{}
		for _, m := range c.Mutations {
			by[i][m.Mutation] = m
			if !seen[m.Mutation] {
				seen[m.Mutation] = true
				names = append(names, m.Mutation)
			}
		}
	}
	if len(names) == 0 {
		return
	}
	slices.Sort(names)
	fmt.Fprintln(w, "\nChildren against their parents, by mutation, over every run (children; share that beat the parent's validation accuracy; mean change in points):")
	fmt.Fprint(w, "\n| mutation |")
	for _, c := range s.Configs {
		fmt.Fprintf(w, " %s |", c.Name)
	}
	fmt.Fprint(w, "\n|---|")
	for range s.Configs {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, n := range names {
		fmt.Fprintf(w, "| %s |", n)
		for i := range s.Configs {
			m, ok := by[i][n]
			if !ok {
				fmt.Fprint(w, " - |")
				continue
			}
			fmt.Fprintf(w, " %d; %s; %s |", m.Children, pct(m.ImprovedShare()), num(100*m.MeanDelta(), "%+.1f"))
		}
		fmt.Fprintln(w)
	}
}

// quarters are the times at which the summary reads the curves: a
// quarter, half, three quarters and all of the plan's wall time (nil when
// the configurations' durations differ).
func quarters(p *Plan) []time.Duration {
	var d Duration
	for i, c := range p.Configurations {
		if i > 0 && c.Duration != d {
			return nil
		}
		d = c.Duration
	}
	if d <= 0 {
		return nil
	}
	q := time.Duration(d) / 4
	return []time.Duration{q, 2 * q, 3 * q, 4 * q}
}

// bandAt is a configuration's best validation accuracy at t, mean ± sd.
func bandAt(c ConfigSummary, t time.Duration) string {
	b, ok := c.At(t.Seconds())
	if !ok {
		return "-"
	}
	return meanSD(b.Stats)
}

// markdownQuarters writes a table of cell(configuration, t) at each of
// marks (nothing without marks).
func markdownQuarters(w io.Writer, title string, marks []time.Duration, configs []ConfigSummary, cell func(ConfigSummary, time.Duration) string) {
	if len(marks) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n\n| configuration |", title)
	for _, m := range marks {
		fmt.Fprintf(w, " %v |", m)
	}
	fmt.Fprint(w, "\n|---|")
	for range marks {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, c := range configs {
		fmt.Fprintf(w, "| %s |", c.Name)
		for _, m := range marks {
			fmt.Fprintf(w, " %s |", cell(c, m))
		}
		fmt.Fprintln(w)
	}
}

// nodeBandsAt is a configuration's per-node figures at t: the mean over
// a run's nodes of each node's best, then the lowest node's, each mean ±
// sd over seeds.
func nodeBandsAt(c ConfigSummary, t time.Duration) string {
	m, ok := AtBand(c.NodeMeanCurve, t.Seconds())
	if !ok {
		return "-"
	}
	w, _ := AtBand(c.NodeWorstCurve, t.Seconds())
	return meanSD(m.Stats) + " / " + meanSD(w.Stats)
}

// compact is a configuration's experiment on one line.
func compact(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// Plot draws, per configuration, the mean over seeds of the best
// validation accuracy against time, with a band from the lowest to the
// highest seed.
func Plot(p *Plan, s Summary) (*plot.Plot, error) {
	fig := plot.New()
	fig.Title.Text = p.Name + ": best validation accuracy, mean and min–max over seeds"
	long := false
	for _, c := range p.Configurations {
		long = long || time.Duration(c.Duration) >= 2*time.Minute
	}
	scale, unit := 1.0, "seconds"
	if long {
		scale, unit = 1.0/60, "minutes"
	}
	fig.X.Label.Text = unit + " since the run's nodes were ready"
	fig.Y.Label.Text = "best validation accuracy"
	fig.Add(plotter.NewGrid())
	fig.Legend.Top, fig.Legend.Left = false, false
	for i, c := range s.Configs {
		col := plotutil.Color(i)
		var mean, lo, hi plotter.XYs
		for _, b := range c.Curve {
			if b.N == 0 {
				continue
			}
			x := b.Seconds * scale
			mean = append(mean, plotter.XY{X: x, Y: b.Mean})
			lo = append(lo, plotter.XY{X: x, Y: b.Min})
			hi = append(hi, plotter.XY{X: x, Y: b.Max})
		}
		if len(mean) == 0 {
			continue
		}
		band := append(hi, reversed(lo)...)
		poly, err := plotter.NewPolygon(band)
		if err != nil {
			return nil, err
		}
		r, g, bl, _ := col.RGBA()
		poly.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(bl >> 8), A: 0x40}
		poly.LineStyle.Width = 0
		line, err := plotter.NewLine(mean)
		if err != nil {
			return nil, err
		}
		line.Color = col
		line.Width = vg.Points(1.5)
		line.Dashes = plotutil.Dashes(i)
		fig.Add(poly, line)
		fig.Legend.Add(fmt.Sprintf("%s (%s)", c.Name, plural(c.Runs, "run")), &bandThumb{poly.Color}, line)
	}
	return fig, nil
}

func reversed(xy plotter.XYs) plotter.XYs {
	out := make(plotter.XYs, len(xy))
	for i, v := range xy {
		out[len(xy)-1-i] = v
	}
	return out
}

// bandThumb draws a band's colour in the legend.
type bandThumb struct{ c color.Color }

func (b *bandThumb) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}}
	c.FillPolygon(b.c, c.ClipPolygonY(pts))
}
