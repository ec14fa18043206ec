package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/node"
	"github.com/evoswarm/evoswarm/store"
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
			fmt.Fprintf(w, "start it with: evoswarm daemon --repo %s\n", repo)
			return nil
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().StringVar(&preset, "preset", "cpu-small", "experiment preset: paper, cpu-small, gpu-small or smoke")
	cmd.Flags().StringVar(&expFile, "experiment", "", "experiment JSON file (instead of a preset)")
	cmd.Flags().StringVar(&data, "data", "", "data set name or directory (overrides the experiment's)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "root seed (overrides the experiment's)")
	cmd.Flags().BoolVar(&loopback, "loopback", false, "network on 127.0.0.1 only (no mDNS, DHT or NAT traversal): for a node alone or with local peers")
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
/api/v1/individuals, /api/v1/lineage). It prints the API address and
"ready" once started. SIGINT or SIGTERM stops it gracefully (trainings in
progress are cancelled and recorded as abandoned); a second signal forces
it. A full disk (less free space than --min-free) stops it with an error;
nothing committed is lost, and it resumes when started again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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

// daemonGet asks the repo's running daemon for path, decoding JSON into v.
func daemonGet(repo, path string, v any) error {
	b, err := os.ReadFile(filepath.Join(repo, node.DaemonFile))
	if err != nil {
		return err
	}
	var d struct {
		API string `json:"api"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return err
	}
	return getJSON(d.API, path, v)
}

// getJSON GETs http://api/path and decodes the JSON reply into v.
func getJSON(api, path string, v any) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + api + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("daemon: %s", strings.TrimSpace(string(msg)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
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
			var st node.Status
			if err := daemonGet(repo, "/api/v1/status", &st); err != nil {
				s, err := node.OfflineStatus(repo)
				if err != nil {
					return err
				}
				st = *s
			}
			if jsonOut {
				return printJSON(cmd.OutOrStdout(), st, false)
			}
			w := cmd.OutOrStdout()
			state := "stopped"
			if st.Running {
				state = "running, API http://" + st.API
			}
			fmt.Fprintf(w, "peer ID      %s\nexperiment   %s\nstate        %s\n", st.PeerID, st.ExperimentID, state)
			fmt.Fprintf(w, "population   %d alive, %d training (set-point %d)\n", st.Alive, st.Training, st.SetPoint)
			fmt.Fprintf(w, "trained      %d (killed %d, abandoned %d, errors %d)\n", st.TrainedTotal, st.KilledTotal, st.Abandoned, st.ErrorsTotal)
			fmt.Fprintf(w, "compute      %.3g FLOPs\n", st.FLOPsTotal)
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
			return nil
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func newLineageCmd() *cobra.Command {
	var repo, id string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "lineage",
		Short: "Print the ancestry of the best individual (or --id), with each mutation and fitness",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var l []node.Ancestor
			path := "/api/v1/lineage"
			if id != "" {
				if _, err := dna.ParseID(id); err != nil {
					return err
				}
				path += "?id=" + id
			}
			if err := daemonGet(repo, path, &l); err != nil {
				if l, err = offlineLineage(repo, id); err != nil {
					return err
				}
			}
			if jsonOut {
				return printJSON(cmd.OutOrStdout(), l, false)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%-4s %-12s %-26s %-8s %-9s %-9s %s\n", "gen", "id", "mutation", "val_acc", "status", "params", "inherited whole/sliced/new")
			for i, a := range l {
				if a.Status == "elsewhere" {
					fmt.Fprintf(w, "%-4d %-12s (an ancestor that lived on another node; the lineage continues there)\n", i, a.ID[:12])
					continue
				}
				inh := "-" // not recorded: an immigrant, or a record from before the counts
				if a.InheritedParams+a.SlicedParams+a.NewParams > 0 {
					inh = fmt.Sprintf("%d/%d/%d", a.InheritedParams, a.SlicedParams, a.NewParams)
				}
				fmt.Fprintf(w, "%-4d %-12s %-26s %-8.4f %-9s %-9d %s\n", i, a.ID[:12], a.Mutation, a.Fitness, a.Status, a.Params, inh)
			}
			return nil
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().StringVar(&id, "id", "", "individual ID (default: the best alive)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func offlineLineage(repo, id string) ([]node.Ancestor, error) {
	st, err := node.OpenStopped(repo)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var want dna.ID
	if id != "" {
		want, err = dna.ParseID(id)
	} else {
		want, err = node.BestID(st)
	}
	if err != nil {
		return nil, err
	}
	return node.Lineage(st, want)
}

// verifyResult is what `evoswarm verify --json` prints.
type verifyResult struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
	Alive    int      `json:"alive"`
	Dead     int      `json:"dead"`
	Training int      `json:"training"`
	IDs      []string `json:"ids"`
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
			res := verifyResult{OK: true, IDs: []string{}}
			problem := func(err error) {
				res.OK = false
				for _, line := range strings.Split(err.Error(), "\n") {
					if line = strings.TrimSpace(line); line != "" && !slices.Contains(res.Problems, line) {
						res.Problems = append(res.Problems, line)
					}
				}
			}
			st, err := node.OpenStoppedReadOnly(repo)
			opened := err == nil
			switch {
			case errors.Is(err, store.ErrCorrupt):
				problem(err) // damaged files: reported like any other problem
			case err != nil:
				return err
			default:
				defer st.Close()
				if err := st.Verify(); err != nil {
					problem(err)
				}
				list, err := node.Individuals(st)
				if err != nil {
					problem(err)
				}
				res.IDs = make([]string, 0, len(list))
				for _, s := range list {
					res.IDs = append(res.IDs, s.ID)
					switch s.Status {
					case "alive":
						res.Alive++
					case "dead":
						res.Dead++
					case "training":
						res.Training++
					}
				}
			}
			if jsonOut {
				if err := printJSON(cmd.OutOrStdout(), res, false); err != nil {
					return err
				}
			} else {
				if opened { // else there is nothing to count
					fmt.Fprintf(cmd.OutOrStdout(), "%d individuals: %d alive, %d dead, %d training\n", len(res.IDs), res.Alive, res.Dead, res.Training)
				}
				for _, p := range res.Problems {
					fmt.Fprintln(cmd.OutOrStdout(), p)
				}
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
			st, err := node.OpenStopped(repo)
			if err != nil {
				return err
			}
			defer st.Close()
			pts, err := node.Progress(st)
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd.OutOrStdout(), pts, false)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%8s  %10s  %7s  %s\n", "minutes", "best_val", "trained", "best_id")
			next := 0.0
			for i, p := range pts {
				if p.Minutes >= next || i == len(pts)-1 {
					fmt.Fprintf(w, "%8.1f  %10.4f  %7d  %s\n", p.Minutes, p.Best, p.Trained, p.BestID[:12])
					for next <= p.Minutes {
						next += every
					}
				}
			}
			return nil
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print every point as JSON")
	cmd.Flags().Float64Var(&every, "every", 1, "minutes between printed rows")
	return cmd
}

// diskFullHint turns a full-disk error into one line that says what to do.
func diskFullHint(err error) error {
	if errors.Is(err, store.ErrDiskFull) {
		msg := err.Error()
		if i := strings.Index(msg, "store: disk full: "); i >= 0 {
			msg = msg[i+len("store: disk full: "):]
		}
		return fmt.Errorf("disk full: %s; free some space (or lower --min-free) and start the daemon again: nothing committed is lost", msg)
	}
	return err
}
