package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/evoswarm/evoswarm/cmd/evoswarm/internal/experiment"
	"github.com/evoswarm/evoswarm/node"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/spf13/cobra"
)

func newLocalCmd() *cobra.Command {
	var (
		nodes                     int
		preset, expFile, dir, dat string
		duration, every           time.Duration
		workers                   int
	)
	cmd := &cobra.Command{
		Use:   "local --nodes N",
		Short: "Run a swarm of N nodes on this machine, over 127.0.0.1",
		Long: `Start N daemons as separate processes, each with its own repo under --dir,
all listening on 127.0.0.1 and bootstrapped to the first. They share one
experiment and exchange migrants over libp2p. Prints each node's API address,
then a status table every --every; stops them all cleanly after --duration
or on Ctrl-C. At the end it prints the best individual found, each node's
best and the initial individual it descends from, where those lineages
meet (whether the islands stayed apart), and the lineage of the best.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 1 || nodes > 64 {
				return fmt.Errorf("--nodes %d: want 1 to 64", nodes)
			}
			if duration < 0 {
				return fmt.Errorf("--duration %v: want 0 (until Ctrl-C) or more", duration)
			}
			if every <= 0 {
				return fmt.Errorf("--every %v: want a positive interval", every)
			}
			exp, err := node.Preset(preset)
			if expFile != "" {
				exp, err = node.LoadExperiment(expFile)
			}
			if err != nil {
				return err
			}
			if dat != "" {
				exp.Data = dat
			}
			if workers > 0 {
				exp.Workers = workers
			}
			set, err := dataset.Load(exp.Data, exp.DatasetOptions())
			if err != nil {
				return err
			}
			exp.DataIdentity = set.Identity
			if err := exp.Validate(); err != nil {
				return err
			}
			if dir == "" {
				if dir, err = os.MkdirTemp("", "evoswarm-local-"); err != nil {
					return err
				}
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "local swarm: %d nodes, experiment %s (%s), repos in %s\n", nodes, exp.ID(), exp.Preset, dir)

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			var procs []*localNode
			defer func() {
				stopAll(procs, out)
			}()
			// Existing repos are resumed only where they hold this very
			// experiment: checked for every node before any starts, so a
			// changed flag does not leave some nodes running the old
			// experiment under the new one's name.
			repos := make([]string, nodes)
			for i := range repos {
				repos[i] = filepath.Join(dir, fmt.Sprintf("node-%d", i))
				if err := sameExperiment(repos[i], exp); err != nil {
					return err
				}
			}
			var bootstrap string
			for i, repo := range repos {
				if _, err := os.Stat(filepath.Join(repo, node.ExperimentFile)); err != nil {
					if _, err := node.Init(repo, exp); err != nil {
						return err
					}
				}
				c := node.LoopbackConfig()
				if bootstrap != "" {
					c.Bootstrap = []string{bootstrap}
				}
				if err := node.SaveConfig(repo, c); err != nil {
					return err
				}
				// The cores this process may use: GOMAXPROCS follows the CPU
				// affinity and, since Go 1.25, a container's CPU quota, where
				// NumCPU sees only the affinity.
				p, err := startLocal(ctx, self, repo, i, max(1, runtime.GOMAXPROCS(0)/nodes))
				if err != nil {
					return err
				}
				procs = append(procs, p)
				if i == 0 {
					bootstrap = p.addr
				}
				fmt.Fprintf(out, "node %d: peer %s  API http://%s  repo %s\n", i, short(p.peer), p.api, repo)
			}
			view, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			viewSrv := &http.Server{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute, Handler: node.SwarmView(func() []string {
				apis := make([]string, len(procs))
				for i, p := range procs {
					apis[i] = p.api
				}
				return apis
			})}
			go viewSrv.Serve(view)
			defer viewSrv.Close()
			fmt.Fprintf(out, "swarm dashboard: http://%s/ (each node's own: its API address)\n", view.Addr())
			deadline := time.After(duration)
			if duration <= 0 {
				deadline = nil
			}
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					fmt.Fprintln(out, "stopping (interrupted)")
					return nil
				case <-deadline:
					printTable(out, procs)
					fmt.Fprintln(out, "stopping (duration reached)")
					return nil
				case <-tick.C:
					printTable(out, procs)
				}
				for i, p := range procs {
					if p.exited() {
						return fmt.Errorf("node %d exited: %s", i, p.lastErr())
					}
				}
			}
		},
	}
	cmd.Flags().IntVar(&nodes, "nodes", 3, "number of nodes")
	cmd.Flags().StringVar(&preset, "preset", "cpu-small", "experiment preset: paper, cpu-small, gpu-small or smoke")
	cmd.Flags().StringVar(&expFile, "experiment", "", "experiment JSON file (instead of a preset)")
	cmd.Flags().StringVar(&dat, "data", "", "data set (overrides the experiment's)")
	cmd.Flags().IntVar(&workers, "workers", 0, "workers per node (overrides the experiment's)")
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the nodes' repos (default: a new temporary one); existing repos there are resumed if they hold the same experiment (their config.json is rewritten for 127.0.0.1)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	cmd.Flags().DurationVar(&every, "every", 30*time.Second, "how often to print the status table")
	return cmd
}

func short(s string) string {
	if len(s) > 16 {
		return s[:8] + "…" + s[len(s)-6:]
	}
	return s
}

// localNode is one daemon process of a local swarm.
type localNode struct {
	cmd  *exec.Cmd
	repo string
	api  string
	addr string // a loopback multiaddr with /p2p/
	peer string
	done chan struct{}
	mu   sync.Mutex
	tail []string
}

func (p *localNode) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *localNode) lastErr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, " | ")
}

// startLocal starts a daemon and waits until it is ready. The nodes share
// this machine's cores: each gets procs of them (GOMAXPROCS, which sets the
// threads its trainings use), unless the user set GOMAXPROCS. Training
// threads beyond the cores a node really has wait on each other at every
// parallel region of every step.
func startLocal(ctx context.Context, self, repo string, i, procs int) (*localNode, error) {
	cmd := exec.Command(self, "daemon", "--repo", repo, "--log-level", "warn")
	cmd.Env = os.Environ()
	if os.Getenv("GOMAXPROCS") == "" {
		cmd.Env = append(cmd.Env, fmt.Sprintf("GOMAXPROCS=%d", procs))
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = daemonProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &localNode{cmd: cmd, repo: repo, done: make(chan struct{})}
	go func() {
		keepTail(p, stderr)
	}()
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "API listening on http://"):
				p.api = strings.TrimPrefix(line, "API listening on http://")
			case strings.HasPrefix(line, "peer ID: "):
				p.peer = strings.TrimPrefix(line, "peer ID: ")
			case strings.HasPrefix(line, "listening on /ip4/127.0.0.1/") && p.addr == "":
				p.addr = strings.TrimPrefix(line, "listening on ")
			case line == "ready" && !sent:
				sent = true
				ready <- nil
			}
		}
		if !sent {
			ready <- errors.New("exited before it was ready")
		}
	}()
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	select {
	case err := <-ready:
		if err != nil {
			<-p.done
			return nil, fmt.Errorf("node %d: %w: %s", i, err, p.lastErr())
		}
		return p, nil
	case <-ctx.Done():
		cmd.Process.Kill()
		return nil, ctx.Err()
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		return nil, fmt.Errorf("node %d did not become ready within 2 minutes", i)
	}
}

// keepTail keeps the last lines a daemon wrote to stderr.
func keepTail(p *localNode, r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		p.mu.Lock()
		p.tail = append(p.tail, sc.Text())
		if len(p.tail) > 5 {
			p.tail = p.tail[1:]
		}
		p.mu.Unlock()
	}
}

// stopAll sends SIGINT to every node and waits up to 30 s before killing.
func stopAll(procs []*localNode, out io.Writer) {
	for _, p := range procs {
		if !p.exited() {
			p.cmd.Process.Signal(os.Interrupt)
		}
	}
	timeout := time.After(30 * time.Second)
	for i, p := range procs {
		select {
		case <-p.done:
		case <-timeout:
			fmt.Fprintf(out, "node %d did not stop in time; killing it\n", i)
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	if len(procs) > 0 {
		fmt.Fprintln(out, "all nodes stopped")
		var best *node.Status
		bestRepo := ""
		for _, p := range procs {
			st, err := node.OfflineStatus(p.repo)
			if err == nil && st.Best != nil && (best == nil || st.Best.ValAccuracy > best.Best.ValAccuracy) {
				best, bestRepo = st, p.repo
			}
		}
		if best == nil {
			return
		}
		fmt.Fprintf(out, "best individual: %s  val %.4f  %d params  on node %s\n", best.Best.ID[:12], best.Best.ValAccuracy, best.Best.Params, short(best.PeerID))
		// Whether the islands stayed apart: each node's best, the initial
		// individual it descends from, and where their lineages meet.
		repos, names := make([]string, len(procs)), make([]string, len(procs))
		for i, p := range procs {
			repos[i], names[i] = p.repo, filepath.Base(p.repo)
		}
		chains, err := experiment.Chains(repos)
		if err != nil {
			fmt.Fprintf(out, "lineages: %v\n", err)
			return
		}
		if len(procs) > 1 {
			fmt.Fprintln(out)
			experiment.WriteDiversity(out, names, chains, time.Now())
		}
		for i, r := range repos {
			if r == bestRepo && len(chains[i]) > 0 {
				fmt.Fprintf(out, "\nthe lineage of the best (%s):\n", names[i])
				writeLineage(out, chains[i])
			}
		}
	}
}

func printTable(w io.Writer, procs []*localNode) {
	fmt.Fprintf(w, "%s\n%-5s %6s %8s %9s %10s %5s %5s %5s %5s\n", time.Now().Format(time.TimeOnly), "node", "alive", "trained", "best_val", "flops", "out", "recv", "won", "peers")
	for i, p := range procs {
		var st node.Status
		if err := (node.Daemon{API: p.api}).Get("/api/v1/status", &st); err != nil {
			fmt.Fprintf(w, "%-5d %v\n", i, err)
			continue
		}
		best := 0.0
		if st.Best != nil {
			best = st.Best.ValAccuracy
		}
		fmt.Fprintf(w, "%-5d %6d %8d %9.4f %10.3g %5d %5d %5d %5d\n", i, st.Alive, st.TrainedTotal, best, st.FLOPsTotal, st.MigrantsOut, st.Received, st.MigrantsIn, st.Peers)
	}
}

// sameExperiment returns nil where repo holds no experiment yet or holds
// exp, and a clear error where it holds another one.
func sameExperiment(repo string, exp *node.Experiment) error {
	if _, err := os.Stat(filepath.Join(repo, node.ExperimentFile)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	old, err := node.LoadRepoExperiment(repo)
	if err != nil {
		return err
	}
	if old.ID() != exp.ID() {
		return fmt.Errorf("%s holds experiment %s (%s), not this run's %s (%s): resume it with the flags that made it "+
			"(--preset, --experiment, --data, --workers), or give another --dir", repo, old.ID(), old.Preset, exp.ID(), exp.Preset)
	}
	return nil
}
