package experiment

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/internal/report"
	"github.com/evoswarm/evoswarm/island/individual"
)

func near(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= tol
}

func TestDescribe(t *testing.T) {
	// 0.80, 0.82, 0.84: mean 0.82; deviations -0.02, 0, 0.02, so the
	// sample variance is 0.0008/2 and the sd 0.02. NaN is left out.
	s := Describe([]float64{0.80, 0.82, math.NaN(), 0.84})
	if s.N != 3 || !near(s.Mean, 0.82, 1e-12) || !near(s.SD, 0.02, 1e-12) || s.Min != 0.80 || s.Max != 0.84 {
		t.Errorf("Describe = %+v; want N 3, mean 0.82, sd 0.02, min 0.80, max 0.84", s)
	}
	if s := Describe([]float64{0.5}); s.N != 1 || s.Mean != 0.5 || !math.IsNaN(s.SD) {
		t.Errorf("one value: %+v; want mean 0.5 and sd NaN", s)
	}
	if s := Describe([]float64{math.NaN()}); s.N != 0 || !math.IsNaN(s.Mean) {
		t.Errorf("no value: %+v; want N 0 and NaN", s)
	}
}

func TestWelchT(t *testing.T) {
	for _, tc := range []struct {
		name     string
		a, b     []float64
		t, df, p float64
	}{
		// Means 2 and 5, variances 2 and 2: se = sqrt(2/2 + 2/2) = sqrt 2,
		// t = -3/sqrt 2; df = (1+1)^2 / (1/1 + 1/1) = 2. Student's t with
		// 2 degrees of freedom has CDF 1/2 + t/(2 sqrt(2+t^2)), so the
		// two-sided p is 1 - |t|/sqrt(2+t^2) = 1 - sqrt(4.5/6.5) = 1 - 3/sqrt 13.
		{"df 2", []float64{1, 3}, []float64{4, 6}, -3 / math.Sqrt2, 2, 1 - 3/math.Sqrt(13)},
		// Means 2 and 6, variances 1 and 2.5, n 3 and 5: se^2 = 1/3 + 1/2
		// = 5/6, t = -4/sqrt(5/6); df = (5/6)^2 / ((1/3)^2/2 + (1/2)^2/4)
		// = (25/36) / (17/144) = 100/17. p from a numerical integration of
		// the t density (Simpson, 10^6 intervals): 0.0048826.
		{"unequal", []float64{1, 2, 3}, []float64{4, 5, 6, 7, 8}, -4 / math.Sqrt(5.0/6), 100.0 / 17, 0.0048826},
		// No spread in either: equal means are no evidence of a
		// difference, different ones are (t infinite).
		{"same constant", []float64{0.5, 0.5}, []float64{0.5, 0.5}, 0, math.NaN(), 1},
		{"different constants", []float64{0.6, 0.6}, []float64{0.5, 0.5}, math.Inf(1), math.NaN(), 0},
		{"too few", []float64{0.6}, []float64{0.5, 0.4}, math.NaN(), math.NaN(), math.NaN()},
	} {
		w := WelchT(tc.a, tc.b)
		if !near(w.T, tc.t, 1e-9) || !near(w.DF, tc.df, 1e-9) || !near(w.P, tc.p, 1e-6) {
			t.Errorf("%s: WelchT = %+v; want t %v, df %v, p %v", tc.name, w, tc.t, tc.df, tc.p)
		}
	}
}

func TestPairedT(t *testing.T) {
	for _, tc := range []struct {
		name     string
		a, b     []float64
		n        int
		t, df, p float64
	}{
		// Differences 2, 3, 5: mean 10/3, variance 7/3, se sqrt(7/9), so
		// t = 10/sqrt 7 on 2 degrees of freedom, whose two-sided p is
		// 1 - |t|/sqrt(2+t^2) = 1 - 10/sqrt 114 (see TestWelchT).
		{"df 2", []float64{3, 5, 10}, []float64{1, 2, 5}, 3, 10 / math.Sqrt(7), 2, 1 - 10/math.Sqrt(114)},
		// The same with a pair left out for its NaN.
		{"NaN", []float64{3, math.NaN(), 5, 10}, []float64{1, 7, 2, 5}, 3, 10 / math.Sqrt(7), 2, 1 - 10/math.Sqrt(114)},
		// Welch sees no difference here (the seeds' spread hides it); the
		// pairs move together.
		{"constant shift", []float64{0.80, 0.90, 0.85}, []float64{0.79, 0.89, 0.84}, 3, math.Inf(1), 2, 0},
		{"no difference", []float64{0.8, 0.9}, []float64{0.8, 0.9}, 2, 0, 1, 1},
		{"one pair", []float64{0.8}, []float64{0.7}, 1, math.NaN(), math.NaN(), math.NaN()},
	} {
		p := PairedT(tc.a, tc.b)
		if p.N != tc.n || !near(p.T, tc.t, 1e-6) || !near(p.DF, tc.df, 1e-9) || !near(p.P, tc.p, 1e-6) {
			t.Errorf("%s: PairedT = %+v; want n %d, t %v, df %v, p %v", tc.name, p, tc.n, tc.t, tc.df, tc.p)
		}
	}
}

func TestUCounts(t *testing.T) {
	// The coefficients of the Gaussian binomial [m+n choose m]_q.
	for _, tc := range []struct {
		m, n int
		want []float64
	}{
		{2, 2, []float64{1, 1, 2, 1, 1}},
		{3, 3, []float64{1, 1, 2, 3, 3, 3, 3, 2, 1, 1}},
		{1, 3, []float64{1, 1, 1, 1}},
	} {
		if got := uCounts(tc.m, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("uCounts(%d, %d) = %v; want %v", tc.m, tc.n, got, tc.want)
		}
	}
}

func TestMannWhitneyU(t *testing.T) {
	for _, tc := range []struct {
		name  string
		a, b  []float64
		u, p  float64
		exact bool
	}{
		// Every a below every b: U = 0, and of the C(6,3) = 20 orderings
		// one gives U = 0 and one U = 9: p = 2/20.
		{"separated", []float64{1, 2, 3}, []float64{4, 5, 6}, 0, 0.1, true},
		{"separated, the other way", []float64{4, 5, 6}, []float64{1, 2, 3}, 9, 0.1, true},
		// Interleaved: a's 3 beats b's 2, a's 5 beats 2 and 4: U = 3.
		// U <= 3 in 1+1+2+3 = 7 of 20 orderings: p = 14/20.
		{"interleaved", []float64{1, 3, 5}, []float64{2, 4, 6}, 3, 0.7, true},
		// Ties: a's two 2s tie b's 2 (half each): U = 1. Ranks of
		// 1,2,2,2,3,3 have tie groups of 3 and 2: sum t^3-t = 24+6 = 30;
		// var U = 9/12 (7 - 30/30) = 4.5; z = (|1 - 4.5| - 0.5)/sqrt 4.5
		// = sqrt 2; p = 2(1 - Phi(sqrt 2)) = erfc(1).
		{"ties", []float64{1, 2, 2}, []float64{2, 3, 3}, 1, math.Erfc(1), false},
		{"empty", nil, []float64{1}, math.NaN(), math.NaN(), false},
	} {
		m := MannWhitneyU(tc.a, tc.b)
		if !near(m.U, tc.u, 1e-12) || !near(m.P, tc.p, 1e-9) || m.Exact != tc.exact {
			t.Errorf("%s: MannWhitneyU = %+v; want U %v, p %v, exact %v", tc.name, m, tc.u, tc.p, tc.exact)
		}
	}
}

// TestSummarizeFromCurves checks that the statistics come from the
// curves: the final best validation accuracy is each curve's last point,
// and the bands are taken sample by sample.
func TestSummarizeFromCurves(t *testing.T) {
	nan := math.NaN()
	pts := func(v ...float64) []Point {
		var out []Point
		for i, b := range v {
			out = append(out, Point{Seconds: float64(i), BestVal: b, Children: uint64(10 * i), FLOPs: 1e9 * float64(i), NodeMean: nan, NodeWorst: nan})
		}
		return out
	}
	results := []Result{
		{Config: "a", Seed: 1, Points: pts(nan, 0.5, 0.80), TestAccuracy: 0.79, Children: 20, FLOPs: 2e9},
		{Config: "b", Seed: 1, Points: pts(nan, 0.4, 0.70), TestAccuracy: 0.69, Children: 30, FLOPs: 3e9},
		{Config: "a", Seed: 2, Points: pts(0.1, 0.6, 0.82), TestAccuracy: 0.81, Children: 40, FLOPs: 4e9},
		{Config: "b", Seed: 2, Points: pts(0.2, 0.5, 0.72), TestAccuracy: 0.71, Children: 50, FLOPs: 5e9},
	}
	s := Summarize([]string{"a", "b"}, results)
	if len(s.Configs) != 2 || len(s.Tests) != 1 {
		t.Fatalf("%d configurations and %d tests; want 2 and 1", len(s.Configs), len(s.Tests))
	}
	a, b := s.Configs[0], s.Configs[1]
	// Finals 0.80 and 0.82: mean 0.81, sd sqrt(2 * 0.01^2 / 1) = 0.01 sqrt 2.
	if a.Name != "a" || a.Runs != 2 || !near(a.Final.Mean, 0.81, 1e-12) || !near(a.Final.SD, 0.01*math.Sqrt2, 1e-12) ||
		a.Final.Min != 0.80 || a.Final.Max != 0.82 {
		t.Errorf("a: %+v", a)
	}
	if !near(b.Final.Mean, 0.71, 1e-12) || !near(a.Test.Mean, 0.80, 1e-12) || !near(b.Children.Mean, 40, 0) || !near(a.FLOPs.Mean, 3e9, 0) {
		t.Errorf("b's final %v, a's test %v, b's children %v, a's FLOPs %v; want 0.71, 0.80, 40, 3e9", b.Final.Mean, a.Test.Mean, b.Children.Mean, a.FLOPs.Mean)
	}
	// The bands: at t=0 only seed 2 has a value; at t=1, 0.5 and 0.6.
	if len(a.Curve) != 3 || a.Curve[0].N != 1 || a.Curve[0].Mean != 0.1 || !near(a.Curve[1].Mean, 0.55, 1e-12) ||
		a.Curve[1].Min != 0.5 || a.Curve[1].Max != 0.6 || a.Curve[2].Seconds != 2 {
		t.Errorf("a's bands: %+v", a.Curve)
	}
	// At reads the last sample at or before a time.
	if at, ok := a.At(1.5); !ok || at.Seconds != 1 || !near(at.Mean, 0.55, 1e-12) {
		t.Errorf("a at 1.5 s: %+v %v; want the 1 s band, mean 0.55", at, ok)
	}
	if at, ok := a.At(2); !ok || !near(at.Mean, 0.81, 1e-12) {
		t.Errorf("a at 2 s: %+v %v; want the final band, mean 0.81", at, ok)
	}
	if _, ok := a.At(-1); ok {
		t.Error("a at -1 s: a band before the first sample")
	}
	c := s.Tests[0]
	// Welch: variances 0.0002 each, n 2: se = sqrt(0.0002), t = 0.1/sqrt(0.0002)
	// = sqrt 50, df 2, p = 1 - sqrt(50/52). Mann-Whitney: every a above
	// every b, U = 4; 1 of the C(4,2) = 6 orderings at each extreme: p = 2/6.
	if c.A != "a" || c.B != "b" || !near(c.Diff, 0.10, 1e-12) || !near(c.Welch.T, math.Sqrt(50), 1e-9) ||
		!near(c.Welch.DF, 2, 1e-9) || !near(c.Welch.P, 1-math.Sqrt(50.0/52), 1e-9) {
		t.Errorf("Welch: %+v", c)
	}
	if c.MannWhitney.U != 4 || !near(c.MannWhitney.P, 2.0/6, 1e-12) || !c.MannWhitney.Exact {
		t.Errorf("Mann-Whitney: %+v; want U 4, p 1/3, exact", c.MannWhitney)
	}

	// The paired test pairs runs by seed, whatever their order, over the
	// seeds both configurations ran: seed 1 0.80 - 0.71, seed 2 0.82 -
	// 0.70; seed 3 has no partner. Differences 0.09 and 0.12: mean 0.105,
	// se 0.015, t 7 on 1 degree of freedom (Cauchy): p = 1 - 2 atan(7)/pi.
	results = []Result{
		{Config: "a", Seed: 3, Points: pts(0.90)},
		{Config: "b", Seed: 2, Points: pts(0.70)},
		{Config: "a", Seed: 1, Points: pts(0.80)},
		{Config: "a", Seed: 2, Points: pts(0.82)},
		{Config: "b", Seed: 1, Points: pts(0.71)},
	}
	pr := Summarize([]string{"a", "b"}, results).Tests[0].Paired
	if pr.N != 2 || !near(pr.T, 7, 1e-9) || pr.DF != 1 || !near(pr.P, 1-2*math.Atan(7)/math.Pi, 1e-9) {
		t.Errorf("paired: %+v; want 2 seeds, t 7, df 1, p %v", pr, 1-2*math.Atan(7)/math.Pi)
	}
}

// TestSummarizeNodeBests checks the per-node figures: their final spread
// and bands come from the per-node columns, their tests from the final
// mean over the nodes, and runs without the columns give none.
func TestSummarizeNodeBests(t *testing.T) {
	nan := math.NaN()
	run := func(config string, seed uint64, mean, worst float64) Result {
		return Result{Config: config, Seed: seed, Points: []Point{
			{Seconds: 0, BestVal: nan, NodeMean: nan, NodeWorst: nan},
			{Seconds: 60, BestVal: 0.9, NodeMean: mean, NodeWorst: worst}}}
	}
	s := Summarize([]string{"connected", "isolated"}, []Result{
		run("connected", 1, 0.89, 0.88), run("isolated", 1, 0.85, 0.80),
		run("connected", 2, 0.90, 0.90), run("isolated", 2, 0.87, 0.83),
	})
	c, i := s.Configs[0], s.Configs[1]
	if !near(c.NodeMean.Mean, 0.895, 1e-12) || !near(i.NodeWorst.Mean, 0.815, 1e-12) || c.NodeWorst.Min != 0.88 {
		t.Errorf("final per-node stats: connected %+v, isolated %+v", c.NodeMean, i.NodeWorst)
	}
	if b, ok := AtBand(i.NodeWorstCurve, 60); !ok || !near(b.Mean, 0.815, 1e-12) || b.N != 2 {
		t.Errorf("isolated's worst-node band at 60 s: %+v %v", b, ok)
	}
	if _, ok := AtBand(c.NodeMeanCurve, 30); ok {
		t.Error("a per-node band before any node's best")
	}
	// Both configurations end at 0.9 for the swarm's best; the nodes'
	// means differ by 0.04 and 0.03: paired t = 0.035 / (0.005 sqrt2 / sqrt2).
	if len(s.NodeTests) != 1 || !near(s.NodeTests[0].Diff, 0.035, 1e-12) || !near(s.NodeTests[0].Paired.T, 7, 1e-9) ||
		s.Tests[0].Diff != 0 {
		t.Errorf("tests: on the best %+v, on the nodes' mean %+v", s.Tests, s.NodeTests)
	}
	old := run("connected", 1, nan, nan)
	if s := Summarize([]string{"connected"}, []Result{old}); s.NodeTests != nil || s.Configs[0].NodeMean.N != 0 {
		t.Errorf("runs without per-node columns: tests %v, stats %+v", s.NodeTests, s.Configs[0].NodeMean)
	}
}

// TestNodeBests checks each node's best over time from its records: an
// individual counts from its birth, dead ones too, one still in training
// not at all, and no mean until every node has one.
func TestNodeBests(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	rec := func(sec int, fit float64, st individual.Status) report.Record {
		return report.Record{ID: fmt.Sprint(sec, fit), Status: st, Fitness: fit, Born: t0.Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano)}
	}
	recs := [][]report.Record{
		{rec(5, 0.5, individual.Dead), rec(25, 0.7, individual.Alive), rec(28, 0.99, individual.Training)},
		{rec(15, 0.6, individual.Alive)},
	}
	pts := make([]Point, 3)
	times := []time.Time{t0.Add(10 * time.Second), t0.Add(20 * time.Second), t0.Add(30 * time.Second)}
	if err := nodeBests(pts, times, recs); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(pts[0].NodeMean) || !math.IsNaN(pts[0].NodeWorst) {
		t.Errorf("at 10 s node 1 has trained nothing: %+v", pts[0])
	}
	if !near(pts[1].NodeMean, 0.55, 1e-12) || pts[1].NodeWorst != 0.5 || !near(pts[2].NodeMean, 0.65, 1e-12) || pts[2].NodeWorst != 0.6 {
		t.Errorf("at 20 s and 30 s: %+v %+v; want mean 0.55 worst 0.5, mean 0.65 worst 0.6", pts[1], pts[2])
	}
}
