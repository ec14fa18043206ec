package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/evoswarm/evoswarm/cmd/evoswarm/internal/experiment"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
	"github.com/evoswarm/evoswarm/node"
	"github.com/spf13/cobra"
)

func newExperimentCmd() *cobra.Command {
	var planFile, out string
	var cores int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "experiment --plan FILE --out DIR",
		Short: "Run K seeds x several configurations at equal compute; curves, a plot and tests",
		Long: `Run a plan (JSON, see docs/experiments.md "Running an experiment"): every
configuration (a partial experiment as init --experiment reads it, and a
topology: nodes, isolated or connected over 127.0.0.1, cores per node) once
with each seed, all for the same wall time and the same total cores. Runs go
one after another, or as many at once as --cores allows; each node is a
daemon with GOMAXPROCS set to its cores, started as evoswarm local starts
them. The nodes' status is sampled into a progress curve; at the end the
best-by-validation individual is exported (as evoswarm export does) and its
test accuracy measured, once.

Writes into --out: plan.json; per run runs/CONFIG/seed-S/ with the nodes'
repos, curve.csv, run.json and best/; and curves.csv, runs.csv, summary.md
(markdown for docs/results.md) and curves.png/.svg (mean and min-max band
over seeds per configuration), and ensemble/ (the top-3 ensemble). Prints
the summary and two-sided Welch's t, Mann-Whitney U and paired t tests (over
the seeds) on the final best validation accuracy. Runs already finished in
--out are not run again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := experiment.LoadPlan(planFile)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			r := &experiment.Runner{Plan: p, Out: out, Cores: cores, Log: w}
			if err := r.Check(); err != nil {
				return err
			}
			runs := p.Runs()
			// The runs in order, each on the first of Parallel slots to
			// come free: the plan's length on the wall clock.
			slots := make([]time.Duration, r.Parallel())
			for _, run := range runs {
				i := slices.Index(slots, slices.Min(slots))
				slots[i] += time.Duration(run.Config.Duration)
			}
			fmt.Fprintf(w, "plan %s: %d runs (%d seeds x %d configurations), %d at a time on %d cores; about %v of run time\n",
				p.Name, len(runs), len(p.Seeds), len(p.Configurations), r.Parallel(), cores, slices.Max(slots).Round(time.Second))
			if dryRun {
				for _, run := range runs {
					c := run.Config
					fmt.Fprintf(w, "  %-24s %d %s node(s) x %d core(s), %v -> %s\n", run, c.Nodes, c.Topology, c.CoresPerNode, time.Duration(c.Duration), run.Dir())
				}
				return nil
			}
			if os.Getenv("GOMAXPROCS") != "" {
				fmt.Fprintln(w, "GOMAXPROCS is set; unsetting it so that each node gets the plan's cores")
				os.Unsetenv("GOMAXPROCS")
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			r.Env = experimentEnv(cmd, self)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			results, err := r.Run(ctx)
			if err != nil && ctx.Err() != nil {
				return fmt.Errorf("interrupted (%v); the finished runs are kept in %s, and the same command resumes", err, out)
			}
			if err != nil {
				return err
			}
			s := experiment.Summarize(p.ConfigNames(), results)
			if err := experiment.WriteOutputs(out, p, results, s); err != nil {
				return err
			}
			fmt.Fprintln(w)
			experiment.Table(w, p, s)
			fmt.Fprintf(w, "written to %s: %s, %s, %s, %s, %s\n", out, experiment.CurvesFile, experiment.RunsFile,
				experiment.SummaryFile, experiment.PlotPNG, experiment.PlotSVG)
			return nil
		},
	}
	cmd.Flags().StringVar(&planFile, "plan", "", "plan file (JSON; required)")
	cmd.Flags().StringVar(&out, "out", "", "output directory (required); finished runs there are kept and not run again")
	cmd.Flags().IntVar(&cores, "cores", runtime.NumCPU(), "cores the runs may take at once (default: this machine's); a plan whose run needs more is refused")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the plan and print the runs without running them")
	_ = cmd.MarkFlagRequired("plan")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// experimentEnv gives the runner evoswarm local's daemons and evoswarm
// export's measure of the test accuracy.
func experimentEnv(cmd *cobra.Command, self string) experiment.Env {
	return experiment.Env{
		Start: func(ctx context.Context, repo string, i, cores int) (experiment.Node, error) {
			p, err := startLocal(ctx, self, repo, i, cores)
			if err != nil {
				return nil, err
			}
			return experimentNode{p}, nil
		},
		Stop: func(nodes []experiment.Node, log io.Writer) {
			procs := make([]*localNode, len(nodes))
			for i, n := range nodes {
				procs[i] = n.(experimentNode).localNode
			}
			stopAll(procs, log)
		},
		Export: func(ctx context.Context, repo, id, dir string) (float64, error) {
			return exportBest(cmd, repo, id, dir)
		},
		Ensemble: func(ctx context.Context, repos []string, k int, dir string) (float64, error) {
			return exportEnsemble(ctx, repos, k, dir)
		},
		Records: loadRecords,
	}
}

// exportEnsemble exports the k distinct live individuals of highest
// validation accuracy over the stopped repos into dir/1 ... dir/k and
// returns the test accuracy of their majority vote, as `evoswarm eval
// --ensemble` measures it; NaN when fewer than k are alive. An individual
// alive on several nodes (an admitted immigrant keeps its ID and weights)
// is one member: two votes for one model would make the ensemble that
// model.
func exportEnsemble(ctx context.Context, repos []string, k int, dir string) (float64, error) {
	type member struct {
		repo string
		node.Summary
	}
	var alive []member
	for _, repo := range repos {
		list, err := node.ReadStopped(repo, (*node.StoppedRepo).Individuals)
		if err != nil {
			return 0, err
		}
		for _, s := range list {
			if s.Status == individual.Alive {
				alive = append(alive, member{repo, s})
			}
		}
	}
	slices.SortStableFunc(alive, func(a, b member) int { return cmp.Compare(b.Fitness, a.Fitness) })
	seen := map[string]bool{}
	alive = slices.DeleteFunc(alive, func(m member) bool {
		dup := seen[m.ID]
		seen[m.ID] = true
		return dup
	})
	if len(alive) < k {
		return math.NaN(), nil
	}
	var dirs []string
	for i, m := range alive[:k] {
		id, err := dna.ParseID(m.ID)
		if err != nil {
			return 0, err
		}
		d := filepath.Join(dir, strconv.Itoa(i+1))
		if _, err := node.ReadStopped(m.repo, func(r *node.StoppedRepo) (node.Exported, error) { return r.Export(ctx, id, d) }); err != nil {
			return 0, fmt.Errorf("exporting %s: %w", id.Short(), err)
		}
		dirs = append(dirs, d)
	}
	res, err := node.Eval(ctx, dirs, "", nil)
	if err != nil {
		return 0, err
	}
	return res.TestAccuracy, nil
}

// experimentNode is a local swarm's daemon as the runner sees it.
type experimentNode struct{ *localNode }

func (n experimentNode) API() string  { return n.api }
func (n experimentNode) Addr() string { return n.addr }
func (n experimentNode) Exited() bool { return n.exited() }
func (n experimentNode) Err() string  { return n.lastErr() }

// exportBest exports individual id of the stopped repo into dir, as
// evoswarm export does, and returns the test accuracy it measured.
func exportBest(cmd *cobra.Command, repo, id, dir string) (float64, error) {
	want, err := dna.ParseID(id)
	if err != nil {
		return 0, err
	}
	e, err := node.ReadStopped(repo, func(r *node.StoppedRepo) (node.Exported, error) {
		return r.Export(cmd.Context(), want, dir)
	})
	if err != nil {
		return 0, err
	}
	printExported(cmd, e)
	return e.TestAccuracy, nil
}
