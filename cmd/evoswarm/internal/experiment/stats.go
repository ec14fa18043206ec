package experiment

import (
	"maps"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/evoswarm/evoswarm/internal/report"
)

// Stats describes a sample: its size, mean, standard deviation (n-1 in
// the denominator), minimum and maximum. NaN values are left out; with
// none left every field but N is NaN, and SD is NaN below two values.
type Stats struct {
	N                  int
	Mean, SD, Min, Max float64
}

// Describe computes Stats over x.
func Describe(x []float64) Stats {
	x = finite(x)
	s := Stats{N: len(x), Mean: math.NaN(), SD: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	if len(x) == 0 {
		return s
	}
	s.Mean = stat.Mean(x, nil)
	if len(x) > 1 {
		s.SD = stat.StdDev(x, nil)
	}
	s.Min, s.Max = slices.Min(x), slices.Max(x)
	return s
}

func finite(x []float64) []float64 {
	var out []float64
	for _, v := range x {
		if !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out
}

// Welch is Welch's unequal-variances t test of two samples.
type Welch struct {
	// T is (mean(a) - mean(b)) / sqrt(var(a)/na + var(b)/nb).
	T float64
	// DF is the Welch-Satterthwaite degrees of freedom.
	DF float64
	// P is the two-sided p-value from Student's t with DF degrees of
	// freedom.
	P float64
}

// WelchT tests whether a and b have the same mean, two-sided. NaN values
// are left out. Each sample needs two values, else every field is NaN.
// When both samples have no spread the test degenerates: equal means give
// T 0 and P 1, different ones T ±Inf and P 0 (DF NaN in both).
func WelchT(a, b []float64) Welch {
	a, b = finite(a), finite(b)
	nan := math.NaN()
	if len(a) < 2 || len(b) < 2 {
		return Welch{nan, nan, nan}
	}
	ma, va := stat.MeanVariance(a, nil)
	mb, vb := stat.MeanVariance(b, nil)
	na, nb := float64(len(a)), float64(len(b))
	qa, qb := va/na, vb/nb
	se2 := qa + qb
	if se2 == 0 {
		if ma == mb {
			return Welch{0, nan, 1}
		}
		return Welch{math.Copysign(math.Inf(1), ma-mb), nan, 0}
	}
	t := (ma - mb) / math.Sqrt(se2)
	df := se2 * se2 / (qa*qa/(na-1) + qb*qb/(nb-1))
	p := 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(math.Abs(t))
	return Welch{T: t, DF: df, P: min(p, 1)}
}

// Paired is the paired t test over the seeds two configurations share:
// the runs of one seed go one after the other on one machine, so their
// difference leaves out what varies from seed to seed and from machine to
// machine (a plan may be spread over machines; see Result.CPU).
type Paired struct {
	// N is the number of seeds with a finite result on both sides.
	N int
	// T is mean(d) / (sd(d) / sqrt(N)) over the differences d = a - b;
	// DF is N - 1.
	T, DF float64
	// P is the two-sided p-value from Student's t with DF degrees of
	// freedom.
	P float64
}

// PairedT tests whether the differences a[i] - b[i] have mean 0,
// two-sided; pairs with a NaN are left out. It needs two pairs, else T, DF
// and P are NaN. Differences without spread degenerate as in WelchT: all
// zero give T 0 and P 1, all equal and nonzero T ±Inf and P 0.
func PairedT(a, b []float64) Paired {
	var d []float64
	for i := range min(len(a), len(b)) {
		if x := a[i] - b[i]; !math.IsNaN(x) && !math.IsInf(x, 0) {
			d = append(d, x)
		}
	}
	nan := math.NaN()
	p := Paired{N: len(d), T: nan, DF: nan, P: nan}
	if len(d) < 2 {
		return p
	}
	m, v := stat.MeanVariance(d, nil)
	p.DF = float64(len(d) - 1)
	if v == 0 {
		if m == 0 {
			p.T, p.P = 0, 1
		} else {
			p.T, p.P = math.Copysign(math.Inf(1), m), 0
		}
		return p
	}
	p.T = m / math.Sqrt(v/float64(len(d)))
	p.P = min(1, 2*distuv.StudentsT{Mu: 0, Sigma: 1, Nu: p.DF}.Survival(math.Abs(p.T)))
	return p
}

// MannWhitney is the Mann-Whitney U test (Wilcoxon rank-sum) of two
// samples.
type MannWhitney struct {
	// U is the number of pairs (x from a, y from b) with x > y, ties
	// counting one half.
	U float64
	// P is the two-sided p-value.
	P float64
	// Exact says P comes from the exact distribution of U (no ties, each
	// sample at most 50 values); otherwise from the normal approximation
	// with the tie correction and a continuity correction of 1/2.
	Exact bool
}

// MannWhitneyU tests whether a and b come from the same distribution
// against a shift either way. NaN values are left out; an empty sample
// gives NaN.
func MannWhitneyU(a, b []float64) MannWhitney {
	a, b = finite(a), finite(b)
	if len(a) == 0 || len(b) == 0 {
		return MannWhitney{U: math.NaN(), P: math.NaN()}
	}
	u := 0.0
	for _, x := range a {
		for _, y := range b {
			switch {
			case x > y:
				u++
			case x == y:
				u += 0.5
			}
		}
	}
	m, n := len(a), len(b)
	all := slices.Concat(a, b)
	slices.Sort(all)
	ties := 0.0 // sum of t^3 - t over groups of tied values
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j] == all[i] {
			j++
		}
		t := float64(j - i)
		ties += t*t*t - t
		i = j
	}
	mn := float64(m * n)
	if ties == 0 && m <= 50 && n <= 50 {
		lo := min(u, mn-u) // both tails are alike: U's distribution is symmetric
		counts := uCounts(m, n)
		total, below := 0.0, 0.0
		for k, c := range counts {
			total += c
			if float64(k) <= lo {
				below += c
			}
		}
		return MannWhitney{U: u, P: min(1, 2*below/total), Exact: true}
	}
	N := float64(m + n)
	sd := math.Sqrt(mn / 12 * ((N + 1) - ties/(N*(N-1))))
	if sd == 0 {
		return MannWhitney{U: u, P: 1}
	}
	z := max(math.Abs(u-mn/2)-0.5, 0) / sd
	return MannWhitney{U: u, P: min(1, 2*distuv.UnitNormal.Survival(z))}
}

// uCounts returns, for samples of m and n distinct values in random
// order, how many of the C(m+n, m) orderings give U = 0, 1, ..., m*n. The
// largest value is a's (it beats all n of b's: U(m, n) = n + U(m-1, n)) or
// b's (U(m, n) = U(m, n-1)); the table is built over n, one column at a
// time.
func uCounts(m, n int) []float64 {
	size := m*n + 1
	// prev[i][u]: counts for i values of a and j-1 of b; cur: for j.
	prev := make([][]float64, m+1)
	for i := range prev {
		prev[i] = make([]float64, size)
	}
	for i := range prev {
		prev[i][0] = 1 // j = 0: U is 0
	}
	for j := 1; j <= n; j++ {
		cur := make([][]float64, m+1)
		for i := range cur {
			cur[i] = make([]float64, size)
			for u := range size {
				c := prev[i][u]
				if i > 0 && u >= j {
					c += cur[i-1][u-j]
				}
				cur[i][u] = c
			}
		}
		prev = cur
	}
	return prev[m]
}

// Band is the spread over seeds of one configuration's best validation
// accuracy at one sample time.
type Band struct {
	Seconds float64
	Stats
}

// ConfigSummary is one configuration over its seeds.
type ConfigSummary struct {
	Name string
	Runs int
	// Final is the final best validation accuracy (each curve's last
	// point); Test the test accuracy of each run's best-by-validation
	// individual; Ensemble the test accuracy of each run's top-3 ensemble;
	// Children and FLOPs each run's totals.
	Final, Test, Ensemble, Children, FLOPs Stats
	// Curve is the best validation accuracy at each sample time.
	Curve []Band
	// NodeMean and NodeWorst are the final mean and lowest over a run's
	// nodes of each node's own best validation accuracy, and NodeMeanCurve
	// and NodeWorstCurve the same at each sample time (N 0 where the runs'
	// curves predate the per-node columns).
	NodeMean, NodeWorst           Stats
	NodeMeanCurve, NodeWorstCurve []Band
	// Mutations is how each mutation's children fared against their
	// parents, over every run.
	Mutations []report.MutationStat
}

// At is the spread over seeds of the best validation accuracy at the
// last sample taken at or before seconds (ok false when there is none).
func (c ConfigSummary) At(seconds float64) (b Band, ok bool) { return AtBand(c.Curve, seconds) }

// Comparison is the two-sided tests of the final best validation
// accuracy between two configurations.
type Comparison struct {
	A, B string
	// Diff is mean(A) - mean(B).
	Diff        float64
	Welch       Welch
	MannWhitney MannWhitney
	// Paired is the paired t test over the seeds both ran.
	Paired Paired
}

// Summary is what a plan's runs show.
type Summary struct {
	Configs []ConfigSummary
	// Tests compare the final best validation accuracy, NodeTests the
	// final mean over a run's nodes of each node's best (nil when no run
	// has the per-node columns).
	Tests, NodeTests []Comparison
}

// AtBand is the band of bands at the last sample taken at or before
// seconds (ok false when there is none).
func AtBand(bands []Band, seconds float64) (b Band, ok bool) {
	for _, x := range bands {
		if x.Seconds > seconds+1e-9 {
			break
		}
		b, ok = x, x.N > 0
	}
	return b, ok
}

// bands is the spread over the curves of f at each sample index.
func bands(curves [][]Point, f func(Point) float64) []Band {
	var out []Band
	for k := 0; ; k++ {
		var at []float64
		secs := math.NaN()
		for _, c := range curves {
			if k < len(c) {
				at = append(at, f(c[k]))
				if math.IsNaN(secs) {
					secs = c[k].Seconds
				}
			}
		}
		if len(at) == 0 {
			return out
		}
		out = append(out, Band{Seconds: secs, Stats: Describe(at)})
	}
}

// final is f of a curve's last point (NaN for an empty curve).
func final(pts []Point, f func(Point) float64) float64 {
	if len(pts) == 0 {
		return math.NaN()
	}
	return f(pts[len(pts)-1])
}

// compare tests every pair of names on the values by configuration and
// seed.
func compare(names []string, bySeed map[string]map[uint64]float64) []Comparison {
	var out []Comparison
	values := func(name string) []float64 {
		var v []float64
		for _, seed := range slices.Sorted(maps.Keys(bySeed[name])) {
			v = append(v, bySeed[name][seed])
		}
		return v
	}
	for i, a := range names {
		for _, b := range names[i+1:] {
			va, vb := values(a), values(b)
			c := Comparison{A: a, B: b, Welch: WelchT(va, vb), MannWhitney: MannWhitneyU(va, vb)}
			c.Diff = Describe(va).Mean - Describe(vb).Mean
			var pa, pb []float64
			for _, seed := range slices.Sorted(maps.Keys(bySeed[a])) {
				if y, ok := bySeed[b][seed]; ok {
					pa, pb = append(pa, bySeed[a][seed]), append(pb, y)
				}
			}
			c.Paired = PairedT(pa, pb)
			out = append(out, c)
		}
	}
	return out
}

// Summarize computes a plan's statistics from its runs' curves: per
// configuration (in the order of names) the spread of the final best
// validation accuracy and of the curve at every sample time, and for every
// pair of configurations Welch's t test, the Mann-Whitney U test and the
// paired t test (over the seeds both ran) on the final best validation
// accuracy. Runs of a configuration are aligned by
// sample index (a plan's runs share one sampling grid).
func Summarize(names []string, results []Result) Summary {
	var s Summary
	best := func(p Point) float64 { return p.BestVal }
	nodeMean := func(p Point) float64 { return p.NodeMean }
	nodeWorst := func(p Point) float64 { return p.NodeWorst }
	finals := map[string]map[uint64]float64{}
	nodeFinals := map[string]map[uint64]float64{}
	perNode := false
	for _, name := range names {
		cs := ConfigSummary{Name: name}
		finals[name], nodeFinals[name] = map[uint64]float64{}, map[uint64]float64{}
		var final_, test, ensemble, children, flops, nmean, nworst []float64
		var curves [][]Point
		var muts [][]report.MutationStat
		for _, r := range results {
			if r.Config != name {
				continue
			}
			cs.Runs++
			muts = append(muts, r.Mutations)
			final_ = append(final_, final(r.Points, best))
			finals[name][r.Seed] = final(r.Points, best)
			if hasNodeBests(r.Points) {
				perNode = true
				nodeFinals[name][r.Seed] = final(r.Points, nodeMean)
			}
			nmean, nworst = append(nmean, final(r.Points, nodeMean)), append(nworst, final(r.Points, nodeWorst))
			test = append(test, float64(r.TestAccuracy))
			ensemble = append(ensemble, float64(r.EnsembleTestAccuracy))
			children = append(children, float64(r.Children))
			flops = append(flops, r.FLOPs)
			curves = append(curves, r.Points)
		}
		cs.Final, cs.Test, cs.Ensemble = Describe(final_), Describe(test), Describe(ensemble)
		cs.Children, cs.FLOPs = Describe(children), Describe(flops)
		cs.NodeMean, cs.NodeWorst = Describe(nmean), Describe(nworst)
		cs.Mutations = report.MergeMutations(muts...)
		cs.Curve = bands(curves, best)
		cs.NodeMeanCurve, cs.NodeWorstCurve = bands(curves, nodeMean), bands(curves, nodeWorst)
		s.Configs = append(s.Configs, cs)
	}
	s.Tests = compare(names, finals)
	if perNode {
		s.NodeTests = compare(names, nodeFinals)
	}
	return s
}
