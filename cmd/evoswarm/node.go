package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/evoswarm/evoswarm/node"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/spf13/cobra"
)

func repoFlag(cmd *cobra.Command, repo *string) {
	cmd.Flags().StringVar(repo, "repo", node.DefaultRepo(), "repo directory ($EVOSWARM_PATH, or ~/.evoswarm)")
}

func newInitCmd() *cobra.Command {
	var repo, preset, expFile, data string
	var seed uint64
	var loopback bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a repo: an experiment, an identity and an empty population",
		Long: `Create a repo directory holding the experiment (experiment.json), a new
Ed25519 identity (identity.key, mode 0600) and, once the daemon first runs,
the Badger store (db/). The experiment comes from a preset (paper,
cpu-small, gpu-small, smoke) or a JSON file; see docs/experiments.md. The data set is
loaded once to pin its identity. Refuses a directory that holds a repo.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var exp *node.Experiment
			var err error
			if expFile != "" {
				if cmd.Flags().Changed("preset") {
					return errors.New("give --preset or --experiment, not both")
				}
				exp, err = node.LoadExperiment(expFile)
			} else {
				exp, err = node.Preset(preset)
			}
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("data") {
				exp.Data = data
			}
			if cmd.Flags().Changed("seed") {
				exp.Seed = seed
			}
			set, err := dataset.Load(exp.Data, exp.DatasetOptions())
			if err != nil {
				return err
			}
			exp.DataIdentity = set.Identity
			id, err := node.Init(repo, exp)
			if err != nil {
				return err
			}
			if loopback {
				if err := node.SaveConfig(repo, node.LoopbackConfig()); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "initialized evoswarm repo in %s\n", repo)
			fmt.Fprintf(w, "peer ID:    %s\n", id)
			fmt.Fprintf(w, "experiment: %s (preset %s, data %s)\n", exp.ID(), exp.Preset, set.Identity)
			fmt.Fprintf(w, "start it with: evoswarm daemon --repo %s\n", shellQuote(repo))
			return nil
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().StringVar(&preset, "preset", "cpu-small", "experiment preset: paper, cpu-small, gpu-small or smoke")
	cmd.Flags().StringVar(&expFile, "experiment", "", "experiment JSON file (instead of a preset)")
	cmd.Flags().StringVar(&data, "data", "", "data set name or directory (overrides the experiment's)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "root seed (overrides the experiment's)")
	cmd.Flags().BoolVar(&loopback, "loopback", false, "network on 127.0.0.1 only (no mDNS or NAT traversal; the DHT talks only to the peers it is given): for a node alone or with local peers")
	return cmd
}

func newDaemonCmd() *cobra.Command {
	var repo, api, logLevel string
	var maxChildren int
	var minFree int64
	var devSpec string
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run a node: evolve the repo's population and serve the local API",
		Long: `Run the node over the repo: its tournament workers evolve the population,
and a read-only JSON API is served on 127.0.0.1 (GET /api/v1/status,
/api/v1/individuals, /api/v1/lineage, /api/v1/events, /api/v1/genome;
/metrics for Prometheus, /debug/pprof/, and the dashboard at /). It prints the API address and
"ready" once started. SIGINT or SIGTERM stops it gracefully (trainings in
progress are cancelled and recorded as abandoned); a second signal forces
it. A full disk (less free space than --min-free) stops it with an error;
nothing committed is lost, and it resumes when started again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxChildren < 0 {
				return fmt.Errorf("--max-children %d: want 0 (no limit) or more", maxChildren)
			}
			if minFree < 0 {
				return fmt.Errorf("--min-free %d: want 0 (the default, 256 MiB) or more bytes", minFree)
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			devs, note, err := openDevicesNote(devSpec)
			if err != nil {
				return err
			}
			defer closeDevices(devs)
			if note != "" {
				log.Info(note, "device", devSpec)
			}
			n, err := node.Open(repo, node.Options{APIAddr: api, Logger: log, MaxChildren: maxChildren, MinFreeBytes: minFree, Devices: devs})
			if err != nil {
				return diskFullHint(err)
			}
			defer n.Close()
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sigs)
			// A log line to a reader that is gone (the `evoswarm local` that
			// started this daemon was killed, and with it the pipes of our
			// stdout and stderr) fails instead of killing the daemon with
			// SIGPIPE, so that it still stops cleanly.
			signal.Ignore(syscall.SIGPIPE)
			go func() {
				s := <-sigs
				log.Info("shutting down; a second signal forces it", "signal", s.String())
				cancel()
				<-sigs
				fmt.Fprintln(os.Stderr, "evoswarm: forced exit")
				os.Exit(130)
			}()
			out := cmd.OutOrStdout()
			err = n.Run(ctx, func(r node.Ready) {
				fmt.Fprintf(out, "peer ID: %s\nexperiment: %s\ntopic: %s\n", r.PeerID, r.Experiment, r.Topic)
				for _, a := range r.Addrs {
					fmt.Fprintf(out, "listening on %s\n", a)
				}
				if len(r.Addrs) == 0 {
					fmt.Fprintln(out, "no dialable address: check config.json's listen (behind a relay only, relay addresses show in evoswarm status once reserved)")
				}
				fmt.Fprintf(out, "API listening on http://%s\nready\n", r.API)
			})
			return diskFullHint(err)
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().StringVar(&api, "api", "", "local API address, loopback only (default: config.json's api, 127.0.0.1:0)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addDeviceFlag(cmd, &devSpec, "auto")
	cmd.Flags().IntVar(&maxChildren, "max-children", 0, "stop after this many children (0: run until stopped)")
	cmd.Flags().Int64Var(&minFree, "min-free", 0, "stop with a disk-full error when the repo's file system has fewer free bytes than this (0: the store's default, 256 MiB)")
	return cmd
}

func newStatusCmd() *cobra.Command {
	var repo string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a node's population, best individual and counters",
		Long:  "Ask the repo's running daemon for its status, or read the store if no daemon runs.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := node.RepoStatus(repo)
			if err != nil {
				return err
			}
			return output(cmd, jsonOut, st, func(w io.Writer) { printStatus(w, st) })
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func printStatus(w io.Writer, st *node.Status) {
	state := "stopped"
	if st.Running {
		state = "running, API http://" + st.API
	}
	fmt.Fprintf(w, "peer ID      %s\nexperiment   %s\nstate        %s\n", st.PeerID, st.ExperimentID, state)
	fmt.Fprintf(w, "population   %d alive, %d training (set-point %d)\n", st.Alive, st.Training, st.SetPoint)
	fmt.Fprintf(w, "trained      %d (killed %d, abandoned %d, errors %d)\n", st.TrainedTotal, st.KilledTotal, st.Abandoned, st.ErrorsTotal)
	fmt.Fprintf(w, "compute      %.3g FLOPs, %.2f worker-hours of training\n", st.FLOPsTotal, st.TrainingSeconds/3600)
	for _, d := range st.Devices {
		fmt.Fprintf(w, "device       %s\n", d)
	}
	fmt.Fprintf(w, "migrants     %d sent, %d received and re-measured, %d won their tournament, %d dropped; %d peers\n", st.MigrantsOut, st.Received, st.MigrantsIn, st.Dropped, st.Peers)
	if st.Topic != "" {
		fmt.Fprintf(w, "topic        %s\n", st.Topic)
	}
	for _, a := range st.Addrs {
		fmt.Fprintf(w, "address      %s\n", a)
	}
	if st.Best != nil {
		fmt.Fprintf(w, "best         %s  val %.4f  %d params  %d FLOPs/image\n", st.Best.ID[:12], st.Best.ValAccuracy, st.Best.Params, st.Best.FLOPs)
	}
}

func newLineageCmd() *cobra.Command {
	var repo, id string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "lineage",
		Short: "Print the ancestry of the best individual (or --id), with each mutation and fitness",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := node.RepoLineage(repo, id)
			if err != nil {
				return err
			}
			return output(cmd, jsonOut, l, func(w io.Writer) { printLineage(w, l) })
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().StringVar(&id, "id", "", "individual ID (default: the best alive)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func printLineage(w io.Writer, l []node.Ancestor) {
	writeLineage(w, l)
}

func newVerifyCmd() *cobra.Command {
	var repo string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check a stopped node's store for consistency (files, records, indexes, counters, history, weights)",
		Long: `Open the repo's store read-only (the daemon must be stopped) and check that
Badger's files are whole (MANIFEST, tables and their checksums, the value
log), every record decodes, the alive and training indexes agree with the
records, birth numbers are unique, the counters match the records, the event
history has no gap and every live individual's weights pass their checksum.
Each problem is one line. Exits 1 if anything is wrong.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := node.Verify(repo)
			if err != nil {
				return err
			}
			err = output(cmd, jsonOut, res, func(w io.Writer) {
				if res.Opened { // else there is nothing to count
					fmt.Fprintf(w, "%d individuals: %d alive, %d dead, %d training\n", len(res.IDs), res.Alive, res.Dead, res.Training)
				}
				for _, p := range res.Problems {
					fmt.Fprintln(w, p)
				}
			})
			if err != nil {
				return err
			}
			if !res.OK {
				return &exitError{code: 1, err: fmt.Errorf("%d problems in %s", len(res.Problems), repo)}
			}
			return nil
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON, with every individual's ID")
	return cmd
}

func newProgressCmd() *cobra.Command {
	var repo string
	var jsonOut bool
	var every float64
	cmd := &cobra.Command{
		Use:   "progress",
		Short: "Print the best validation accuracy against time for a stopped node",
		Long: `Print the run's best-so-far curve from the store's records: minutes since
the first individual was born, the best validation accuracy by then, and how
many individuals had been born. The daemon must be stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !(every > 0) || math.IsInf(every, 0) {
				return fmt.Errorf("--every %v: want a positive number of minutes", every)
			}
			pts, err := node.ReadStopped(repo, (*node.StoppedRepo).Progress)
			if err != nil {
				return err
			}
			return output(cmd, jsonOut, pts, func(w io.Writer) { printProgress(w, pts, every) })
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print every point as JSON")
	cmd.Flags().Float64Var(&every, "every", 1, "minutes between printed rows")
	return cmd
}

func printProgress(w io.Writer, pts []node.Point, every float64) {
	fmt.Fprintf(w, "%8s  %10s  %7s  %s\n", "minutes", "best_val", "trained", "best_id")
	next := 0.0
	for i, p := range pts {
		if p.Minutes >= next || i == len(pts)-1 {
			fmt.Fprintf(w, "%8.1f  %10.4f  %7d  %s\n", p.Minutes, p.Best, p.Trained, p.BestID[:12])
			next = (math.Floor(p.Minutes/every) + 1) * every
		}
	}
}

// diskFullHint turns a full-disk error into one line that says what to do.
func diskFullHint(err error) error {
	if errors.Is(err, node.ErrDiskFull) {
		msg := err.Error()
		if i := strings.Index(msg, "store: disk full: "); i >= 0 {
			msg = msg[i+len("store: disk full: "):]
		}
		return fmt.Errorf("disk full: %s; free some space (or lower --min-free) and start the daemon again: nothing committed is lost", msg)
	}
	return err
}

// shellQuote returns s as one shell word: as is when it holds only
// characters no shell treats specially, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=+,@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
