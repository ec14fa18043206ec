package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/evoswarm/evoswarm/internal/atomicfile"
	"github.com/evoswarm/evoswarm/internal/report"
	"github.com/evoswarm/evoswarm/internal/version"
	"github.com/evoswarm/evoswarm/node"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// Node is a running daemon, as Env.Start returns it.
type Node interface {
	// API is its local API's host:port.
	API() string
	// Addr is a loopback multiaddr ending in /p2p/<peer ID>, for the
	// nodes that bootstrap to it.
	Addr() string
	// Exited says whether the process has ended; Err is what it last said
	// on stderr.
	Exited() bool
	Err() string
}

// Env is the machinery a Runner drives. The `evoswarm experiment` verb
// gives it `evoswarm local`'s daemons and `evoswarm export`.
type Env struct {
	// Start starts a daemon over repo with cores as its GOMAXPROCS and
	// returns once it is ready; index numbers it within its run.
	Start func(ctx context.Context, repo string, index, cores int) (Node, error)
	// Stop stops a run's daemons (gracefully, then by force), writing
	// what it does to log.
	Stop func(nodes []Node, log io.Writer)
	// Export writes individual id of the stopped repo as a model into dir
	// and returns its test accuracy, measured there.
	Export func(ctx context.Context, repo, id, dir string) (float64, error)
	// Ensemble exports the k live individuals of highest validation
	// accuracy over the stopped repos into subdirectories of dir and
	// returns the test accuracy of their majority vote (the paper's
	// ensemble), or NaN when fewer than k are alive. Nil: not measured.
	Ensemble func(ctx context.Context, repos []string, k int, dir string) (float64, error)
	// Records reads the node's peer ID and its individuals' records from
	// the stopped repo, as `evoswarm plot` draws them.
	Records func(repo string) (peer string, recs []report.Record, err error)
}

// Result is a finished run, as its run.json holds it; Points are its
// curve.csv.
type Result struct {
	Config       string `json:"configuration"`
	Seed         uint64 `json:"seed"`
	ExperimentID string `json:"experiment_id"`
	Nodes        int    `json:"nodes"`
	Topology     string `json:"topology"`
	CoresPerNode int    `json:"cores_per_node"`
	// Started is when all the run's nodes were ready; Seconds how long it
	// ran from then.
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	// CPU is the model of the machine's processor: runs of one plan may
	// be spread over machines (one seed's configurations run together,
	// in seed-major order), and their figures only compare within one.
	CPU string `json:"cpu,omitempty"`
	// Build is the binary that ran it (version.Build: revision and build
	// tags); empty in a run.json from before the field. A summary over
	// runs of several builds says so.
	Build string `json:"build,omitempty"`
	// BestVal is the validation accuracy of the best live individual over
	// the run's nodes at the end, BestID its ID and BestNode the node
	// that holds it; TestAccuracy is its test accuracy, measured once, by
	// exporting it into the run's best/ directory. NaN (null) when no
	// individual was trained.
	BestVal      Float  `json:"best_val_accuracy"`
	BestID       string `json:"best_id,omitempty"`
	BestNode     int    `json:"best_node"`
	TestAccuracy Float  `json:"test_accuracy"`
	// EnsembleTestAccuracy is the test accuracy of the majority vote of
	// the EnsembleSize live individuals of highest validation accuracy
	// over the run's nodes (exported into ensemble/), measured once at
	// the end like TestAccuracy; NaN (null) when fewer were alive.
	EnsembleTestAccuracy Float `json:"ensemble_test_accuracy"`
	// Children and FLOPs are the nodes' trained_total and flops_total,
	// summed, from their stores after the stop.
	Children uint64  `json:"children"`
	FLOPs    float64 `json:"flops"`
	// Mutations is how the children of each mutation fared against their
	// parents, over the run's nodes.
	Mutations []report.MutationStat `json:"mutations,omitempty"`
	// Diversity is how far apart the nodes' bests are at the end (runs of
	// several nodes only).
	Diversity *Diversity `json:"diversity,omitempty"`
	Points    []Point    `json:"-"`
}

// Curve is the run's progress curve.
func (r Result) Curve() Curve { return Curve{Config: r.Config, Seed: r.Seed, Points: r.Points} }

// Float is a float64 that is null in JSON when NaN.
type Float float64

// MarshalJSON writes null for NaN.
func (f Float) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// UnmarshalJSON reads null as NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	err := json.Unmarshal(b, &v)
	*f = Float(v)
	return err
}

// EnsembleSize is how many individuals the end-of-run ensemble takes: the
// paper reports a top-2 and a top-10 ensemble; three is what a small
// sub-population can spare.
const EnsembleSize = 3

// Files in a run's directory and in the output directory.
const (
	PlanFile    = "plan.json"
	RunFile     = "run.json"
	CurveFile   = "curve.csv"
	RunLogFile  = "run.log"
	BestDir     = "best"
	EnsembleDir = "ensemble"
	CurvesFile  = "curves.csv"
	RunsFile    = "runs.csv"
	SummaryFile = "summary.md"
	PlotPNG     = "curves.png"
	PlotSVG     = "curves.svg"
)

// Runner runs a plan's runs into Out.
type Runner struct {
	Plan *Plan
	// Out is the output directory. A run whose run.json is there already
	// is not run again; a run left unfinished there is started afresh.
	Out string
	// Cores is how many cores the runs may take at once: as many runs
	// start together as fit, and a plan whose run takes more is refused.
	Cores int
	Env   Env
	// Log receives a line as each run starts and ends.
	Log io.Writer

	mu         sync.Mutex
	identities map[string]string // data set identity by name and split
}

// Check refuses a plan that cannot run within r.Cores, or an output
// directory that holds another plan's results.
func (r *Runner) Check() error {
	if need := r.Plan.MaxCores(); need > r.Cores {
		return fmt.Errorf("a run of this plan takes %d cores and only %d may be used (--cores): running it would overload the machine", need, r.Cores)
	}
	old, err := os.ReadFile(filepath.Join(r.Out, PlanFile))
	if err == nil && !bytes.Equal(old, r.Plan.Canonical()) {
		return fmt.Errorf("%s holds the results of another plan (%s differs): pick another output directory", r.Out, PlanFile)
	}
	return nil
}

// Parallel is how many runs go at once.
func (r *Runner) Parallel() int { return max(1, r.Cores/r.Plan.MaxCores()) }

// Run runs every run of the plan, Parallel() at a time, and returns their
// results in the order of Plan.Runs. The first failure stops the others.
func (r *Runner) Run(ctx context.Context) ([]Result, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.Out, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(r.Out, PlanFile), r.Plan.Canonical(), 0o644); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	runs := r.Plan.Runs()
	results := make([]Result, len(runs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range r.Parallel() {
		wg.Go(func() {
			for i := range next {
				res, err := r.run(ctx, runs[i])
				if err != nil {
					cancel(fmt.Errorf("%s: %w", runs[i], err))
					continue
				}
				results[i] = res
			}
		})
	}
feed:
	for i := range runs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return results, nil
}

func (r *Runner) logf(format string, args ...any) {
	if r.Log == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.Log, format+"\n", args...)
}

// LoadResult reads a finished run from its directory.
func LoadResult(dir string) (Result, error) {
	var res Result
	b, err := os.ReadFile(filepath.Join(dir, RunFile))
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, fmt.Errorf("%s: %w", filepath.Join(dir, RunFile), err)
	}
	f, err := os.Open(filepath.Join(dir, CurveFile))
	if err != nil {
		return res, err
	}
	defer f.Close()
	if res.Points, err = ReadCurveCSV(f); err != nil {
		return res, fmt.Errorf("%s: %w", filepath.Join(dir, CurveFile), err)
	}
	return res, nil
}

// identity returns the data set identity an experiment pins, loading the
// data set once per name and split.
func (r *Runner) identity(e *node.Experiment) (string, error) {
	key := fmt.Sprintf("%s|%+v", e.Data, e.DatasetOptions())
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.identities[key]; ok {
		return id, nil
	}
	set, err := dataset.Load(e.Data, e.DatasetOptions())
	if err != nil {
		return "", err
	}
	if r.identities == nil {
		r.identities = map[string]string{}
	}
	r.identities[key] = set.Identity
	return set.Identity, nil
}

// sample is the nodes' counters at one point of the sampling grid.
type sample struct {
	offset   time.Duration // on the grid
	at       time.Time     // when the last node answered
	children []uint64      // per node
	flops    []float64
}

// run runs one configuration with one seed, or loads it if it finished
// before.
func (r *Runner) run(ctx context.Context, run Run) (Result, error) {
	dir := filepath.Join(r.Out, run.Dir())
	res, err := LoadResult(dir)
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, RunFile)); statErr == nil {
			// A finished run whose files do not read: never delete it.
			return Result{}, fmt.Errorf("%s finished but does not read (%w); move %s away to run it again", run, err, dir)
		}
	} else {
		// A finished run counts only for the experiment it ran: a
		// preset changed since (its steps, say) makes the same plan a
		// different experiment, which must not be mixed with it.
		exp, err := run.Config.experiment(run.Seed)
		if err != nil {
			return Result{}, err
		}
		if exp.DataIdentity, err = r.identity(exp); err != nil {
			return Result{}, err
		}
		if res.ExperimentID != exp.ID() {
			return Result{}, fmt.Errorf("%s finished as experiment %s, but this build makes its configuration experiment %s (a preset changed since?): "+
				"use the build that ran it, or move %s away to run it again", run, res.ExperimentID, exp.ID(), dir)
		}
		if why := sameRun(res, run, time.Duration(r.Plan.Sample)); why != "" {
			return Result{}, fmt.Errorf("%s holds a finished run of the same experiment but %s; move it away to run it again", dir, why)
		}
		if b := version.Build(); res.Build != "" && res.Build != b {
			r.logf("%s: done before (%s), by build %s (this is %s)", run, dir, res.Build, b)
		} else {
			r.logf("%s: done before (%s)", run, dir)
		}
		if res.Mutations == nil { // a run.json from before the field
			if res.Mutations, err = r.mutations(nodeRepos(dir, res.Nodes)); err != nil {
				return res, err
			}
		}
		if res.Diversity == nil && res.Nodes > 1 { // likewise
			end := res.Started.Add(time.Duration(res.Seconds * float64(time.Second)))
			if res.Diversity, err = diversity(nodeRepos(dir, res.Nodes), end); err != nil {
				return res, err
			}
		}
		if !hasNodeBests(res.Points) { // a curve.csv from before the per-node columns
			if err = r.addNodeBests(dir, &res); err != nil {
				return res, err
			}
		}
		if res.Nodes > 1 && r.Env.Ensemble != nil {
			// A run from before the ensemble took distinct individuals:
			// one alive on two nodes voted twice.
			repeats, err := ensembleRepeats(filepath.Join(dir, EnsembleDir))
			if err != nil {
				return res, err
			}
			if repeats {
				if err := r.redoEnsemble(ctx, dir, &res); err != nil {
					return res, err
				}
			}
		}
		return res, nil
	}
	if err := os.RemoveAll(dir); err != nil { // an unfinished attempt
		return Result{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	c := run.Config
	exp, err := c.experiment(run.Seed)
	if err != nil {
		return Result{}, err
	}
	if exp.DataIdentity, err = r.identity(exp); err != nil {
		return Result{}, err
	}
	logFile, err := os.Create(filepath.Join(dir, RunLogFile))
	if err != nil {
		return Result{}, err
	}
	defer logFile.Close()
	dur := time.Duration(c.Duration)
	r.logf("%s: %d %s node(s) x %d core(s), experiment %s, %v", run, c.Nodes, c.Topology, c.CoresPerNode, exp.ID(), dur)

	var nodes []Node
	stopped := false
	stop := func() {
		var started []Node
		for _, n := range nodes {
			if n != nil {
				started = append(started, n)
			}
		}
		if !stopped && len(started) > 0 {
			r.Env.Stop(started, logFile)
		}
		stopped = true
	}
	defer stop()
	repos := nodeRepos(dir, c.Nodes)
	for i := range repos {
		if _, err := node.Init(repos[i], exp); err != nil {
			return Result{}, err
		}
	}
	nodes, err = r.startNodes(ctx, c, repos)
	for i, n := range nodes {
		if n != nil {
			fmt.Fprintf(logFile, "node %d: API http://%s  address %s  repo %s\n", i, n.API(), n.Addr(), repos[i])
		}
	}
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	samples, err := r.sampleRun(ctx, nodes, start, dur, time.Duration(r.Plan.Sample), logFile)
	if err != nil {
		return Result{}, err
	}
	stop()
	res = Result{Config: c.Name, Seed: run.Seed, ExperimentID: exp.ID(), Nodes: c.Nodes, Topology: c.Topology,
		CoresPerNode: c.CoresPerNode, CPU: cpuModel(), Build: version.Build(), Started: start.UTC(), Seconds: samples[len(samples)-1].at.Sub(start).Seconds(),
		BestVal: Float(math.NaN()), BestNode: -1, TestAccuracy: Float(math.NaN()), EnsembleTestAccuracy: Float(math.NaN())}
	recs, err := r.records(repos)
	if err != nil {
		return Result{}, err
	}
	if res.Points, err = curve(start, samples, recs); err != nil {
		return Result{}, err
	}
	// The nodes' own bests at the grid's times, as addNodeBests computes
	// them for a run from before the columns: one definition for both.
	times := make([]time.Time, len(samples))
	for i, s := range samples {
		times[i] = start.Add(s.offset)
	}
	if err := nodeBests(res.Points, times, recs); err != nil {
		return Result{}, err
	}
	if res.Points, err = stored(res.Points); err != nil {
		return Result{}, err
	}
	res.Mutations = mutationsOf(recs)
	if res.Diversity, err = diversity(repos, samples[len(samples)-1].at); err != nil {
		return Result{}, err
	}
	for i, repo := range repos {
		st, err := node.OfflineStatus(repo)
		if err != nil {
			return Result{}, err
		}
		res.Children += st.TrainedTotal
		res.FLOPs += st.FLOPsTotal
		if st.Best != nil && (res.BestNode < 0 || st.Best.ValAccuracy > float64(res.BestVal)) {
			res.BestVal, res.BestID, res.BestNode = Float(st.Best.ValAccuracy), st.Best.ID, i
		}
	}
	if res.BestNode >= 0 {
		test, err := r.Env.Export(ctx, repos[res.BestNode], res.BestID, filepath.Join(dir, BestDir))
		if err != nil {
			return Result{}, fmt.Errorf("exporting the best individual: %w", err)
		}
		res.TestAccuracy = Float(test)
	}
	if res.BestNode >= 0 && r.Env.Ensemble != nil {
		acc, err := r.Env.Ensemble(ctx, repos, EnsembleSize, filepath.Join(dir, EnsembleDir))
		if err != nil {
			return Result{}, fmt.Errorf("the top-%d ensemble: %w", EnsembleSize, err)
		}
		res.EnsembleTestAccuracy = Float(acc)
	}
	var buf bytes.Buffer
	if err := res.Curve().WriteCSV(&buf); err != nil {
		return Result{}, err
	}
	if err := atomicfile.Write(filepath.Join(dir, CurveFile), buf.Bytes(), 0o644); err != nil {
		return Result{}, err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return Result{}, err
	}
	// run.json last: its presence marks a finished run.
	if err := atomicfile.Write(filepath.Join(dir, RunFile), append(b, '\n'), 0o644); err != nil {
		return Result{}, err
	}
	r.logf("%s: best val %s, test %s of the best, %d children, %.3g FLOPs in %.0f s",
		run, pct(float64(res.BestVal)), pct(float64(res.TestAccuracy)), res.Children, res.FLOPs, res.Seconds)
	return res, nil
}

// ensembleRepeats reports whether an exported ensemble (dir/1, dir/2, ...)
// holds one individual more than once.
func ensembleRepeats(dir string) (bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*", "metrics.json"))
	if err != nil {
		return false, err
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return false, err
		}
		var m struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return false, fmt.Errorf("%s: %w", f, err)
		}
		if seen[m.ID] {
			return true, nil
		}
		seen[m.ID] = true
	}
	return false, nil
}

// redoEnsemble measures a finished run's ensemble again from its stopped
// repos (into a new directory that then replaces the old one) and writes
// the figure into its run.json.
func (r *Runner) redoEnsemble(ctx context.Context, dir string, res *Result) error {
	old, tmp := filepath.Join(dir, EnsembleDir), filepath.Join(dir, EnsembleDir+".new")
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	acc, err := r.Env.Ensemble(ctx, nodeRepos(dir, res.Nodes), EnsembleSize, tmp)
	if err != nil {
		return fmt.Errorf("the top-%d ensemble again: %w", EnsembleSize, err)
	}
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if err := os.Rename(tmp, old); err != nil {
		return err
	}
	r.logf("%s seed %d: the ensemble counted one individual twice; measured again: test %s (was %s)",
		res.Config, res.Seed, pct(acc), pct(float64(res.EnsembleTestAccuracy)))
	res.EnsembleTestAccuracy = Float(acc)
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, RunFile), append(b, '\n'), 0o644)
}

// startNodes configures and starts a run's nodes. Isolated nodes start
// all at once; connected ones bootstrap to the first, so it starts first
// and the others together once it is ready. Nodes that did start are in
// the result even when another failed.
func (r *Runner) startNodes(ctx context.Context, c *Config, repos []string) ([]Node, error) {
	nodes := make([]Node, len(repos))
	errs := make([]error, len(repos))
	start := func(i int, bootstrap string) {
		cfg := node.LoopbackConfig()
		if bootstrap != "" {
			cfg.Bootstrap = []string{bootstrap}
		}
		if c.Topology == Isolated {
			cfg.DHT = false // nothing to find, and nobody to find it with
		}
		if errs[i] = node.SaveConfig(repos[i], cfg); errs[i] == nil {
			nodes[i], errs[i] = r.Env.Start(ctx, repos[i], i, c.CoresPerNode)
		}
	}
	first := 0
	bootstrap := ""
	if c.Topology == Connected {
		start(0, "")
		if errs[0] != nil {
			return nodes, fmt.Errorf("node 0: %w", errs[0])
		}
		first, bootstrap = 1, nodes[0].Addr()
	}
	var wg sync.WaitGroup
	for i := first; i < len(repos); i++ {
		wg.Go(func() { start(i, bootstrap) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nodes, fmt.Errorf("node %d: %w", i, err)
		}
	}
	return nodes, nil
}

// sampleRun asks every node for its status at start, every step after it
// and at start+dur, until then; a node that does not answer keeps its
// last counters, a node that exited fails the run.
func (r *Runner) sampleRun(ctx context.Context, nodes []Node, start time.Time, dur, step time.Duration, log io.Writer) ([]sample, error) {
	children := make([]uint64, len(nodes))
	flops := make([]float64, len(nodes))
	var out []sample
	for k := 0; ; k++ {
		off := time.Duration(k) * step
		last := off >= dur
		if last {
			off = dur
		}
		if wait := time.Until(start.Add(off)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, context.Cause(ctx)
			case <-t.C:
			}
		}
		s := sample{offset: off}
		for i, n := range nodes {
			if n.Exited() {
				return nil, fmt.Errorf("node %d exited: %s", i, n.Err())
			}
			var st node.Status
			if err := getStatus(ctx, n.API(), &st); err != nil {
				fmt.Fprintf(log, "%.1f s: node %d did not answer: %v\n", off.Seconds(), i, err)
			} else {
				children[i], flops[i] = st.TrainedTotal, st.FLOPsTotal
			}
		}
		s.at = time.Now()
		s.children, s.flops = append([]uint64(nil), children...), append([]float64(nil), flops...)
		out = append(out, s)
		if last {
			return out, nil
		}
	}
}

// getStatus asks a daemon's API for its status.
func getStatus(ctx context.Context, api string, st *node.Status) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+api+"/api/v1/status", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(st)
}

// curve turns the samples into the run's progress curve. The best
// validation accuracy at a sample is the best of every individual any
// node had trained or received by the sample's time on the grid (start +
// offset), from the stores' records, so an individual that was best
// between two samples and died before the next still counts, and one
// born while the nodes were being asked does not count early: the same
// cut-off as the nodes' own bests (nodeBests). Children and FLOPs are the
// counters the nodes reported when asked.
func curve(start time.Time, samples []sample, recs [][]report.Record) ([]Point, error) {
	var dots []report.Dot
	for _, rs := range recs {
		s, err := report.NewSeries("", rs)
		if err != nil {
			return nil, err
		}
		dots = append(dots, s.Dots...)
	}
	best := math.NaN()
	var out []Point
	for _, s := range samples {
		cut := start.Add(s.offset)
		for _, d := range dots {
			if !d.Born.After(cut) && better(d.Fitness, best) {
				best = d.Fitness
			}
		}
		p := Point{Seconds: s.offset.Seconds(), BestVal: best}
		for i := range s.children {
			p.Children += s.children[i]
			p.FLOPs += s.flops[i]
		}
		out = append(out, p)
	}
	return out, nil
}

// nodeBests fills each point's NodeMean and NodeWorst from the nodes'
// records: a node's best at times[i] is the best validation accuracy of
// every individual it had trained or received by then.
func nodeBests(pts []Point, times []time.Time, recs [][]report.Record) error {
	series := make([][]report.Dot, len(recs))
	for i, rs := range recs {
		s, err := report.NewSeries("", rs)
		if err != nil {
			return err
		}
		series[i] = s.Dots
	}
	for k := range pts {
		pts[k].NodeMean, pts[k].NodeWorst = math.NaN(), math.NaN()
		sum, worst := 0.0, math.Inf(1)
		for _, dots := range series {
			best := math.NaN()
			for _, d := range dots {
				if !d.Born.After(times[k]) && better(d.Fitness, best) {
					best = d.Fitness
				}
			}
			if math.IsNaN(best) {
				sum = math.NaN()
				break
			}
			sum += best
			worst = min(worst, best)
		}
		if len(series) > 0 && !math.IsNaN(sum) {
			pts[k].NodeMean, pts[k].NodeWorst = sum/float64(len(series)), worst
		}
	}
	return nil
}

// addNodeBests computes the per-node columns of a finished run whose
// curve.csv predates them, from its node repos, and rewrites its
// curve.csv; without the repos (a run kept as run.json and curve.csv
// only) it leaves them NaN.
func (r *Runner) addNodeBests(dir string, res *Result) error {
	repos := nodeRepos(dir, res.Nodes)
	for _, repo := range repos {
		if _, err := os.Stat(repo); err != nil || r.Env.Records == nil {
			return nil
		}
	}
	recs, err := r.records(repos)
	if err != nil {
		return err
	}
	times := make([]time.Time, len(res.Points))
	for i, p := range res.Points {
		times[i] = res.Started.Add(time.Duration(p.Seconds * float64(time.Second)))
	}
	if err := nodeBests(res.Points, times, recs); err != nil {
		return err
	}
	if res.Points, err = stored(res.Points); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := res.Curve().WriteCSV(&buf); err != nil {
		return err
	}
	// In place of a finished run's file: whole or not at all.
	return atomicfile.Write(filepath.Join(dir, CurveFile), buf.Bytes(), 0o644)
}

// nodeRepos are the repos of a run's nodes in its directory.
func nodeRepos(dir string, nodes int) []string {
	repos := make([]string, nodes)
	for i := range repos {
		repos[i] = filepath.Join(dir, fmt.Sprintf("node-%d", i))
	}
	return repos
}

// mutations reads the stopped repos' records and counts how each
// mutation's children fared (nil without Env.Records).
func (r *Runner) mutations(repos []string) ([]report.MutationStat, error) {
	if r.Env.Records == nil {
		return nil, nil
	}
	recs, err := r.records(repos)
	if err != nil {
		return nil, err
	}
	return mutationsOf(recs), nil
}

// records reads the individuals' records of each stopped repo.
func (r *Runner) records(repos []string) ([][]report.Record, error) {
	recs := make([][]report.Record, len(repos))
	for i, repo := range repos {
		var err error
		if _, recs[i], err = r.Env.Records(repo); err != nil {
			return nil, fmt.Errorf("reading %s: %w", repo, err)
		}
	}
	return recs, nil
}

// mutationsOf counts each node's children against their parents (on the
// node that made them) and adds the nodes up.
func mutationsOf(recs [][]report.Record) []report.MutationStat {
	per := make([][]report.MutationStat, len(recs))
	for i, rs := range recs {
		per[i] = report.Mutations(rs)
	}
	return report.MergeMutations(per...)
}

// better says whether v beats best, where NaN is no value.
func better(v, best float64) bool { return !math.IsNaN(v) && (math.IsNaN(best) || v > best) }

// pct formats an accuracy as a percentage, "-" for NaN.
func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
}

// sameRun says how a finished run differs from run, or "" when it is
// run's: the experiment ID covers only the experiment, which the arms of a
// plan may share (connected and isolated islands), and runs copied in by
// hand (pooling kept runs) must still be the plan's configuration, seed,
// duration and sampling grid.
func sameRun(res Result, run Run, sample time.Duration) string {
	c := run.Config
	near := func(sec float64, d time.Duration) bool {
		return math.Abs(sec-d.Seconds()) < 1e-3
	}
	switch {
	case res.Config != c.Name:
		return fmt.Sprintf("of configuration %q", res.Config)
	case res.Seed != run.Seed:
		return fmt.Sprintf("of seed %d", res.Seed)
	case res.Nodes != c.Nodes || res.Topology != c.Topology || res.CoresPerNode != c.CoresPerNode:
		return fmt.Sprintf("with %d %s node(s) x %d core(s), not %d %s x %d", res.Nodes, res.Topology, res.CoresPerNode,
			c.Nodes, c.Topology, c.CoresPerNode)
	case len(res.Points) < 2:
		return "with no curve"
	case !near(res.Points[len(res.Points)-1].Seconds, time.Duration(c.Duration)):
		return fmt.Sprintf("of %gs, not %v", res.Points[len(res.Points)-1].Seconds, time.Duration(c.Duration))
	case !near(res.Points[1].Seconds, sample) && !near(res.Points[1].Seconds, time.Duration(c.Duration)):
		return fmt.Sprintf("sampled every %gs, not every %v", res.Points[1].Seconds, sample)
	}
	return ""
}

// cpuModel is the processor's model name from /proc/cpuinfo, "" where
// there is none.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
