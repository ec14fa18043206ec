package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/evoswarm/evoswarm/internal/sim"
	"github.com/evoswarm/evoswarm/node"
	"github.com/spf13/cobra"
)

func newSimulateCmd() *cobra.Command {
	var (
		nodes, children, reports, show, sample, valImages int
		population                                        int
		minutes, spread                                   float64
		preset, expFile, csvFile                          string
		seed                                              uint64
		maxWall                                           time.Duration
		mig                                               node.Migration
	)
	cmd := &cobra.Command{
		Use:   "simulate --nodes N [--minutes M]",
		Short: "Simulate a swarm of N nodes in one process: immigration cost and diversity as the swarm grows",
		Long: `Simulate N virtual nodes of an experiment for --minutes of virtual time.
Each runs the real island code (seeding, tournaments, mutation, emigration,
the immigrants' tournament) and the real immigration policy (the topology's
neighbourhood and the admission budget), with a fake trainer (fitness from a
cheap landscape over the genome's architecture and its lineage's training,
plus noise; costs from the real FLOPs model) and an in-memory exchange in
place of libp2p. Nothing is trained and nothing touches the network; a run
is repeatable from --seed.

Prints, at --reports times, per node (mean and max over the nodes):
individuals trained, announcements its gossip carried, heard from its
neighbours, admitted (fetched and re-measured) and accepted (won their
tournament), the share of its FLOPs that re-measuring took, and its
population's diversity (distinct lineages, mean genome distance); and for
the swarm: lineages alive, distinct lineages among the nodes' best, the mean
distance between nodes' bests, and the best fitness. Then whether every
node stayed within its admission budget (exit status 1 if not), and a
per-node table for --show nodes. --csv writes every node at every report.

The migration settings come from the experiment (--preset or --experiment)
and may be overridden by the flags below. --emigrate-every 0 turns
migration off: isolated islands.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			exp, err := node.Preset(preset)
			if expFile != "" {
				exp, err = node.LoadExperiment(expFile)
			}
			if err != nil {
				return err
			}
			f := cmd.Flags()
			m := &exp.Migration
			if f.Changed("topology") {
				m.Topology = mig.Topology
				if mig.Topology != "all" && !f.Changed("neighbours") && m.Neighbours == 0 {
					m.Neighbours = 2
				}
				if mig.Topology == "random" && !f.Changed("reshuffle") && m.ReshuffleSeconds == 0 {
					m.ReshuffleSeconds = 600
				}
			}
			for name, set := range map[string]func(){
				"neighbours":      func() { m.Neighbours = mig.Neighbours },
				"reshuffle":       func() { m.ReshuffleSeconds = mig.ReshuffleSeconds },
				"admit-every":     func() { m.AdmitEvery = mig.AdmitEvery },
				"remeasure-share": func() { m.RemeasureShare = mig.RemeasureShare },
				"diversity-share": func() { m.DiversityShare = mig.DiversityShare },
				"emigrate-every":  func() { m.EveryReproductions = mig.EveryReproductions },
			} {
				if f.Changed(name) {
					set()
				}
			}
			switch m.Topology { // as an experiment file would have them
			case "all":
				m.Neighbours, m.ReshuffleSeconds = 0, 0
			case "ring":
				m.ReshuffleSeconds = 0
			}
			if f.Changed("population") {
				exp.Population = population
			}
			if err := exp.Validate(); err != nil {
				return err
			}
			cfg, err := simConfig(exp, valImages)
			if err != nil {
				return err
			}
			cfg.Nodes, cfg.Minutes, cfg.Children, cfg.Spread, cfg.Seed = nodes, minutes, children, spread, seed
			cfg.Reports, cfg.Sample, cfg.MaxWall = reports, sample, maxWall
			if nodes < 1 || nodes > 100_000 {
				return fmt.Errorf("--nodes %d: want 1 to 100,000", nodes)
			}
			if show < 0 {
				return fmt.Errorf("--show %d: want 0 or more", show)
			}
			w := cmd.OutOrStdout()
			var cw *csv.Writer
			cfg.OnReport = func(r *sim.Report) {
				printSimReport(w, r)
				if cw != nil {
					writeSimCSV(cw, r)
				}
			}
			s, err := sim.New(cfg) // checks the settings before any file is touched
			if err != nil {
				return err
			}
			if csvFile != "" {
				// Into a file beside it, renamed over it at the end: a run
				// that fails leaves an existing file as it was.
				fh, err := os.CreateTemp(filepath.Dir(csvFile), "."+filepath.Base(csvFile)+".*")
				if err != nil {
					return err
				}
				defer os.Remove(fh.Name())
				defer fh.Close()
				cw = csv.NewWriter(fh)
				cw.Write([]string{"minutes", "node", "trained", "sent", "gossip", "heard", "admitted", "accepted",
					"remeasure_flops", "work_flops", "remeasure_share", "lineages", "distance", "best"})
				defer func() { // what the run wrote, interrupted or not
					cw.Flush()
					werr := cw.Error()
					if werr == nil {
						if werr = fh.Close(); werr == nil {
							werr = os.Rename(fh.Name(), csvFile)
						}
					}
					if werr != nil && err == nil {
						err = fmt.Errorf("--csv %s: %w", csvFile, werr)
					}
				}()
			}
			printSimHeader(w, exp, cfg)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			last, runErr := s.Run(ctx)
			if last == nil {
				return runErr
			}
			if runErr != nil {
				fmt.Fprintln(w, "stopped early:", runErr)
			}
			printSimNodes(w, last, show)
			if err := sim.WithinBudget(last, cfg.Policy); err != nil {
				return &exitError{1, fmt.Errorf("admission over budget: %w", err)}
			}
			fmt.Fprintf(w, "every node stayed within its admission budget (%s)\n", budgetText(cfg))
			if runErr != nil && ctx.Err() != nil {
				return &exitError{130, runErr}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&nodes, "nodes", 100, "virtual nodes")
	f.Float64Var(&minutes, "minutes", 30, "virtual minutes to simulate")
	f.IntVar(&children, "children", 0, "also stop each node after this many individuals trained (0: no limit)")
	f.StringVar(&preset, "preset", "cpu-small", "experiment preset (paper, cpu-small, gpu-small, smoke)")
	f.StringVar(&expFile, "experiment", "", "experiment file (as init --experiment reads it), in place of --preset")
	f.StringVar(&mig.Topology, "topology", "", "override migration.topology: all, ring or random")
	f.IntVar(&mig.Neighbours, "neighbours", 0, "override migration.neighbours")
	f.Float64Var(&mig.ReshuffleSeconds, "reshuffle", 0, "override migration.reshuffle_seconds")
	f.IntVar(&mig.AdmitEvery, "admit-every", 0, "override migration.admit_every (0: no count limit)")
	f.Float64Var(&mig.RemeasureShare, "remeasure-share", 0, "override migration.remeasure_share (0: no compute limit)")
	f.Float64Var(&mig.DiversityShare, "diversity-share", 0, "override migration.diversity_share")
	f.IntVar(&mig.EveryReproductions, "emigrate-every", 0, "override migration.every_reproductions (0: no migration)")
	f.IntVar(&population, "population", 0, "override the population set-point per node")
	f.IntVar(&valImages, "val-images", 0, "validation images per node (0: the experiment's split of Fashion-MNIST)")
	f.Float64Var(&spread, "spread", 0.3, "node speeds uniform in [1-spread, 1+spread]")
	f.Uint64Var(&seed, "seed", 1, "the simulation's seed")
	f.IntVar(&reports, "reports", 6, "report this many times, evenly over the run")
	f.IntVar(&show, "show", 5, "nodes in the final per-node table (the first ones, and the ones that admitted and re-measured most)")
	f.IntVar(&sample, "sample", 1000, "nodes whose populations are compared genome by genome at each report")
	f.StringVar(&csvFile, "csv", "", "write every node at every report to this CSV file")
	f.DurationVar(&maxWall, "max-wall", 0, "stop after this much wall time and report what was reached (0: no limit)")
	return cmd
}

// simConfig maps an experiment onto a simulation: its population,
// selection, mutations and migration settings, and a landscape sized by
// its steps, batch and validation split.
func simConfig(exp *node.Experiment, valImages int) (sim.Config, error) {
	mut, err := exp.MutateOptions()
	if err != nil {
		return sim.Config{}, err
	}
	if valImages <= 0 {
		valImages = exp.ValSize
		if valImages == 0 {
			train := 60_000 // Fashion-MNIST's training images
			if exp.TrainImages > 0 {
				train = exp.TrainImages
			}
			valImages = int(math.Round(exp.ValFraction * float64(train)))
		}
	}
	return sim.Config{
		Population: exp.Population, Mode: exp.Selection, Mutation: mut,
		EmigrateEvery: exp.Migration.EveryReproductions,
		Topology:      exp.TopologyOf(), Policy: exp.AdmissionPolicy(valImages),
		Landscape: sim.DefaultLandscape(exp.Train.Steps, exp.Train.BatchSize, valImages),
	}, nil
}

func budgetText(cfg sim.Config) string {
	p := cfg.Policy
	s := ""
	if p.Every > 0 {
		s = fmt.Sprintf("at most 1 admission per %d trained", p.Every)
	}
	if p.Share > 0 {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("re-measuring at most %.3g%% of FLOPs", 100*p.Share)
	}
	if s == "" {
		s = "unbounded: every announcement from a neighbour"
	}
	if p.Diversity > 0 {
		s += fmt.Sprintf(", %.3g%% of admissions for novelty", 100*p.Diversity)
	}
	return s
}

func printSimHeader(w io.Writer, exp *node.Experiment, cfg sim.Config) {
	t := cfg.Topology
	topo := "all (everyone hears everyone)"
	switch {
	case cfg.EmigrateEvery == 0:
		topo = "none (no migration: isolated islands)"
	case t.Kind == "ring":
		topo = fmt.Sprintf("ring, %d neighbours", t.K)
	case t.Kind == "random":
		topo = fmt.Sprintf("random, %d neighbours, reshuffled every %v", t.K, t.Reshuffle)
	}
	fmt.Fprintf(w, "simulating %d nodes for %g virtual minutes: experiment %s (%s), population %d, %d steps per child, %d validation images, emigrating every %d children\n",
		cfg.Nodes, cfg.Minutes, exp.ID(), exp.Preset, cfg.Population, cfg.Landscape.Steps, cfg.Landscape.ValImages, cfg.EmigrateEvery)
	fmt.Fprintf(w, "topology: %s; admission: %s; seed %d\n\n", topo, budgetText(cfg), cfg.Seed)
	fmt.Fprintln(w, "          ----------------------------- per node: mean (max) -----------------------------   ------------------------ swarm ------------------------")
	fmt.Fprintf(w, "%6s %8s %9s %8s %12s %9s %16s %9s %6s   %8s %7s %6s %6s %6s %8s\n",
		"minute", "trained", "gossip", "heard", "admitted", "accepted", "re-measure share", "lineages", "dist",
		"lineages", "leaders", "ldist", "best", "mean", "wall")
}

func printSimReport(w io.Writer, r *sim.Report) {
	sum := func(f func(sim.NodeStats) float64) sim.Summary { return sim.Summarize(r.Nodes, f) }
	tr := sum(func(n sim.NodeStats) float64 { return float64(n.Trained) })
	go_ := sum(func(n sim.NodeStats) float64 { return float64(n.Gossip) })
	he := sum(func(n sim.NodeStats) float64 { return float64(n.Heard) })
	ad := sum(func(n sim.NodeStats) float64 { return float64(n.Admitted) })
	ac := sum(func(n sim.NodeStats) float64 { return float64(n.Accepted) })
	sh := sum(func(n sim.NodeStats) float64 { return n.Share })
	li := sum(func(n sim.NodeStats) float64 { return float64(n.Lineages) })
	di := sum(func(n sim.NodeStats) float64 {
		if n.Distance < 0 {
			return math.NaN()
		}
		return n.Distance
	})
	fmt.Fprintf(w, "%6.1f %8.1f %9.0f %8.1f %7.1f (%2.0f) %9.1f %7.2f%% (%4.2f%%) %9.2f %6.2f   %8d %7d %6.2f %6.3f %6.3f %8s\n",
		r.Minutes, tr.Mean, go_.Mean, he.Mean, ad.Mean, ad.Max, ac.Mean, 100*sh.Mean, 100*sh.Max, li.Mean, di.Mean,
		r.Lineages, r.Leaders, r.LeaderDistance, r.Best, r.MeanBest, r.Wall.Round(100*time.Millisecond))
}

func writeSimCSV(cw *csv.Writer, r *sim.Report) {
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	d := func(x int64) string { return strconv.FormatInt(x, 10) }
	for _, n := range r.Nodes {
		dist := ""
		if n.Distance >= 0 {
			dist = g(n.Distance)
		}
		cw.Write([]string{g(r.Minutes), n.Node, d(n.Trained), d(n.Sent), d(n.Gossip), d(n.Heard), d(n.Admitted), d(n.Accepted),
			g(n.RemeasureFLOPs), g(n.WorkFLOPs), g(n.Share), strconv.Itoa(n.Lineages), dist, g(n.Best)})
	}
}

// printSimNodes prints the first nodes, and those that admitted most and
// spent the largest share re-measuring.
func printSimNodes(w io.Writer, r *sim.Report, show int) {
	if show <= 0 {
		return
	}
	pick := []int{}
	seen := map[int]bool{}
	add := func(i int) {
		if i >= 0 && !seen[i] {
			seen[i] = true
			pick = append(pick, i)
		}
	}
	for i := range min(show, len(r.Nodes)) {
		add(i)
	}
	most, dearest := -1, -1
	for i, n := range r.Nodes {
		if most < 0 || n.Admitted > r.Nodes[most].Admitted {
			most = i
		}
		if dearest < 0 || n.Share > r.Nodes[dearest].Share {
			dearest = i
		}
	}
	add(most)
	add(dearest)
	fmt.Fprintf(w, "\nper node at %.1f virtual minutes:\n", r.Minutes)
	fmt.Fprintf(w, "%-11s %8s %6s %8s %7s %9s %9s %16s %9s %6s %7s\n", "node", "trained", "sent", "gossip", "heard", "admitted", "accepted", "re-measure share", "lineages", "dist", "best")
	for _, i := range pick {
		n := r.Nodes[i]
		dist := "-"
		if n.Distance >= 0 {
			dist = fmt.Sprintf("%.2f", n.Distance)
		}
		fmt.Fprintf(w, "%-11s %8d %6d %8d %7d %9d %9d %15.2f%% %9d %6s %7.3f\n",
			n.Node, n.Trained, n.Sent, n.Gossip, n.Heard, n.Admitted, n.Accepted, 100*n.Share, n.Lineages, dist, n.Best)
	}
	fmt.Fprintln(w)
}
