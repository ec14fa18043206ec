package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/evoswarm/evoswarm/gossip"
	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
	"github.com/evoswarm/evoswarm/train"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/evoswarm/evoswarm/train/device"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// Options are a daemon's run-time settings, beyond the experiment.
type Options struct {
	// APIAddr is the local API's listen address; it must be a loopback
	// address. The default, "127.0.0.1:0", picks a free port.
	APIAddr string
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// MaxChildren stops the island after that many children (0: never).
	MaxChildren int
	// MinFreeBytes is passed to the store (0: its default).
	MinFreeBytes int64
	// Devices are the GPUs children train on, one worker each (they
	// replace the experiment's worker count). None: the CPU, with the
	// experiment's workers.
	Devices []device.Device
}

// Node is a running evoswarm node over one repo.
type Node struct {
	dir     string
	exp     *Experiment
	cfg     *Config
	priv    crypto.PrivKey
	ex      *exchange
	peer    string
	opts    Options
	log     *slog.Logger
	store   *store.Store
	data    *dataset.Set
	island  *island.Island
	started time.Time
	api     net.Listener
	metrics *metrics
	threads int // CPU threads per network (train.Config.Threads); 0 before Run
}

// Open opens the repo in dir: it takes the store's lock (a second daemon
// fails here), checks the data set against the experiment, and abandons
// any training a crash interrupted.
func Open(dir string, opts Options) (*Node, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	exp, err := LoadRepoExperiment(dir)
	if err != nil {
		return nil, err
	}
	priv, id, err := LoadIdentity(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	sopts := store.DefaultOptions()
	sopts.Logger = log
	sopts.MaxValueBytes = maxValueBytes(exp)
	// A node whose networks must fit in little memory (the smoke preset's
	// 64 MiB) is one of many on a machine: its store is compact too.
	sopts.Compact = exp.Train.MemoryBudget <= compactStoreBudget
	if opts.MinFreeBytes != 0 {
		sopts.MinFreeBytes = opts.MinFreeBytes
	}
	st, err := store.Open(filepath.Join(dir, StoreDir), sopts)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, fmt.Errorf("another evoswarm process is using %s: a daemon (stop it first), or a command reading the repo such as export (wait for it)", dir)
		}
		return nil, err
	}
	if err := st.CheckFree(); err != nil {
		st.Close()
		return nil, err // the command says what to do (diskFullHint)
	}
	n := &Node{dir: dir, exp: exp, cfg: cfg, priv: priv, peer: id.String(), opts: opts, log: log, store: st}
	if err := n.checkRun(); err != nil {
		st.Close()
		return nil, err
	}
	if n.data, err = dataset.Load(exp.Data, exp.DatasetOptions()); err != nil {
		st.Close()
		return nil, err
	}
	n.data = n.data.WithoutTest() // evolution never looks at the test split
	if layout, err := train.OneDNNLayoutOverride(); err != nil {
		log.Warn(err.Error())
	} else if layout != "" && train.OneDNNISA() != "" {
		log.Info("oneDNN training layout forced by EVOSWARM_ONEDNN_LAYOUT", "layout", layout)
	}
	if exp.DataIdentity != "" && n.data.Identity != exp.DataIdentity {
		st.Close()
		return nil, fmt.Errorf("node: data set %s has identity %s, but the experiment was created with %s: the files changed", exp.Data, n.data.Identity, exp.DataIdentity)
	}
	if k, err := st.AbandonTraining("interrupted: the node stopped while it trained", time.Now()); err != nil {
		st.Close()
		return nil, err
	} else if k > 0 {
		log.Info("abandoned trainings interrupted by the last stop", "count", k)
	}
	return n, nil
}

// checkRun records the experiment in a new store, and refuses a store
// that belongs to another experiment.
func (n *Node) checkRun() error {
	canon := n.exp.Canonical()
	return n.store.Update(func(tx *store.Tx) error {
		old, err := tx.Config()
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err != nil {
			if err := tx.SetConfig(canon); err != nil {
				return err
			}
			return tx.SetSeed(n.exp.Seed)
		}
		if string(old) != string(canon) {
			return fmt.Errorf("node: %s was changed after the run started (the store holds another experiment); restore it or start a new repo", filepath.Join(n.dir, ExperimentFile))
		}
		return nil
	})
}

// Store returns the node's store.
func (n *Node) Store() *store.Store { return n.store }

// Experiment returns the node's experiment.
func (n *Node) Experiment() *Experiment { return n.exp }

// Run runs the island, the gossip layer and the local API until ctx ends or
// the island stops on a fatal error, which it returns. ready, if not nil,
// is called once all are up.
func (n *Node) Run(ctx context.Context, ready func(Ready)) error {
	mut, err := n.exp.MutateOptions()
	if err != nil {
		return err
	}
	workers := n.exp.Workers
	if len(n.opts.Devices) > 0 {
		workers = len(n.opts.Devices)
		for _, d := range n.opts.Devices {
			n.log.Info("training on a GPU", "device", d.Name())
		}
	}
	// Each worker's network gets its share of the cores.
	n.threads = max(1, runtime.GOMAXPROCS(0)/workers)
	n.limitMemory()
	cfg := island.Config{
		SetPoint: n.exp.Population, Workers: workers, Mode: n.exp.Selection, Mutation: mut,
		Input: dna.Shape{H: n.data.H, W: n.data.W, C: n.data.C}, Classes: n.data.Classes,
		LearningRate: n.exp.InitialLearningRate, Seed: n.exp.Seed, Stream: streamOf(n.peer), Origin: n.peer,
		EmigrateEvery: n.exp.Migration.EveryReproductions, MaxChildren: n.opts.MaxChildren,
		EmigrateInterval: time.Duration(n.exp.Migration.IntervalSeconds * float64(time.Second)),
		// A quarter below the rate at which peers validate a signer's
		// announcements: a node of fast children (the smoke preset makes
		// dozens a second) was penalised, then cut off, for announcing
		// more.
		EmigrateMinGap: time.Duration(1.25 * float64(time.Second) / gossip.DefaultConfig().AnnounceRate),
	}
	if n.ex, err = n.startSwarm(ctx, n.priv); err != nil {
		return err
	}
	n.metrics = newMetrics(n.store, n.ex) // before n.ex.run: it hooks the exchange
	cfg.OnTrained = func(t island.Timing) {
		n.metrics.observe(t)
		n.ex.adm.Worked(float64(t.FLOPs)) // local work earns the admission budget
	}
	defer n.ex.sw.Close()
	// Every goroutine Run starts is waited for before it returns (after
	// the deferred stops below, which run first), so a stopped node leaves
	// nothing running behind it.
	var bg sync.WaitGroup
	defer bg.Wait()
	exCtx, stopEx := context.WithCancel(ctx)
	defer stopEx()
	bg.Go(func() { n.ex.run(exCtx) })
	if cfg.Sent, err = n.emigrated(); err != nil {
		return err
	}
	n.island, err = island.New(cfg, population{n.store}, newTrainer(n.data, n.trainConfig(), n.opts.Devices), n.ex, n.log)
	if err != nil {
		return err
	}
	addr := n.opts.APIAddr
	if addr == "" {
		addr = n.cfg.API
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := checkLoopback(addr); err != nil {
		return err
	}
	if n.api, err = net.Listen("tcp", addr); err != nil {
		return fmt.Errorf("node: API: %w", err)
	}
	n.started = time.Now() // before the API serves: its handlers read it
	srv := &http.Server{Handler: n.handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	bg.Go(func() { srv.Serve(n.api) })
	defer srv.Close()
	apiAddr := n.api.Addr().String()
	if err := writeDaemon(n.dir, Daemon{API: apiAddr, PID: os.Getpid(), Peer: n.peer}); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(n.dir, DaemonFile))
	gcCtx, stopGC := context.WithCancel(ctx)
	defer stopGC()
	if err := n.store.Start(gcCtx); err != nil {
		return err
	}
	if ready != nil {
		ready(Ready{PeerID: n.peer, Experiment: n.exp.ID(), Topic: n.ex.sw.Topic(), Addrs: n.ex.sw.Addrs(), API: apiAddr})
	}
	n.log.Info("node running", "peer", n.peer, "experiment", n.exp.ID(), "api", apiAddr)
	err = n.island.Run(ctx)
	// The workers have stopped: trainings they were running when ctx ended
	// will not finish. Record them now rather than at the next start.
	if k, aerr := n.store.AbandonTraining("stopped while training", time.Now()); aerr != nil {
		n.log.Warn("recording interrupted trainings", "err", aerr)
	} else if k > 0 {
		n.log.Info("recorded interrupted trainings as abandoned", "count", k)
	}
	return err
}

// gcPercent is the collector's GOGC in a node. A node's heap is mostly
// pointer-free: the data set's bytes and the float32 tensors of the
// networks in training, which the collector does not scan, so a cycle
// costs little; but every child builds and drops its networks, and with
// the default GOGC of 100 the heap grows to twice what is live before a
// cycle frees them. Measured (5-minute cpu-small node, 2 workers, gorgonia
// engine): peak RSS 540-590 MiB at GOGC 100, 190-275 MiB at 20 (the spread
// is the size of the networks a run happens to evolve), with the collector
// under 1% of the CPU; smoke nodes 630-700 MiB at 100, 165-175 MiB at 20.
const gcPercent = 20

// compactStoreBudget is the largest network memory budget at which a
// node's store runs compact (store.Options.Compact).
const compactStoreBudget = 256 << 20

// limitMemory paces the Go collector for a node: GOGC gcPercent unless
// GOGC is set, and a soft memory limit from the experiment unless
// GOMEMLIMIT is set. The limit is a ceiling, not the working level: what
// the node's own networks may use (one per worker, and the immigrants
// being re-measured, each within the memory budget), plus 512 MiB for the
// data set, the store and the swarm.
func (n *Node) limitMemory() {
	gogc := os.Getenv("GOGC")
	if gogc == "" {
		debug.SetGCPercent(gcPercent)
		gogc = strconv.Itoa(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		n.log.Info("memory pacing", "gogc", gogc, "limit", "GOMEMLIMIT")
		return
	}
	limit := int64(512<<20) + n.exp.Train.MemoryBudget*int64(n.exp.Workers+admitters)
	debug.SetMemoryLimit(limit)
	n.log.Info("memory pacing", "gogc", gogc, "limit_mib", limit>>20)
}

// emigrated lists the individuals this node sent out in earlier runs.
func (n *Node) emigrated() ([]dna.ID, error) {
	var ids []dna.ID
	err := n.store.Events(1, func(ev store.Event) error {
		if ev.Type == store.EventEmigration {
			ids = append(ids, ev.ID)
		}
		return nil
	})
	return ids, err
}

// Ready is what a started node reports.
type Ready struct {
	PeerID, Experiment, Topic, API string
	Addrs                          []string
}

// Close releases the store.
func (n *Node) Close() error { return n.store.Close() }

// streamOf derives a node's random stream from its peer ID, so that nodes
// sharing an experiment (and its seed) breed different genomes. A run is
// repeatable for the same experiment and the same identity.key.
func streamOf(peerID string) uint64 {
	sum := sha256.Sum256([]byte(peerID))
	return binary.LittleEndian.Uint64(sum[:8])
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("node: API address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("node: API address %q is not a loopback address; the API serves 127.0.0.1 only", addr)
	}
	return nil
}

// Status returns the node's status.
func (n *Node) Status() (*Status, error) {
	st := &Status{PeerID: n.peer, ExperimentID: n.exp.ID(), Running: true, SetPoint: n.exp.Population, StartedAt: n.started, Addrs: []string{}}
	if n.api != nil {
		st.API = n.api.Addr().String()
	}
	if n.island != nil {
		st.ChildPhases = childPhases(n.island.Stats())
	}
	for _, d := range n.opts.Devices {
		st.Devices = append(st.Devices, d.Name())
	}
	st.Engine = train.CPUEngine()
	if isa := train.OneDNNISA(); isa != "" {
		st.Engine += " (" + isa + ")"
	}
	if n.ex != nil {
		st.Addrs, st.Topic, st.Peers = n.ex.sw.Addrs(), n.ex.sw.Topic(), len(n.ex.sw.Peers())
		st.Received, st.Dropped, st.Penalized = n.ex.Remeasured.Load(), n.ex.Dropped.Load(), n.ex.Penalized.Load()
		st.Rejected = n.ex.sw.Rejections()
		gs := n.ex.sw.Stats()
		st.Gossip = &gs
		if n.ex.adm != nil {
			st.Admission = admissionStatus(n.ex.adm, n.exp.Migration)
		}
	}
	return st, readStatus(n.store, st)
}

// handler serves the read-only local JSON API.
func (n *Node) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := n.Status()
		reply(w, st, err)
	})
	mux.HandleFunc("GET /api/v1/lineage", func(w http.ResponseWriter, r *http.Request) {
		id, err := n.idParam(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := n.store.Get(id); errors.Is(err, store.ErrNotFound) {
			// The client's error, as for the genome (FuzzAPIQuery).
			http.Error(w, "node: individual "+id.Short()+" is not in this repo", http.StatusNotFound)
			return
		}
		l, err := Lineage(n.store, id)
		reply(w, l, err)
	})
	mux.HandleFunc("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		q, err := ParseEventQuery(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		evs, err := Events(n.store, q)
		reply(w, evs, err)
	})
	// Go's profiler, for operators diagnosing a node (loopback only, like
	// the rest of the API).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /metrics", n.metricsHandler())
	mux.HandleFunc("GET /api/v1/individuals", func(w http.ResponseWriter, r *http.Request) {
		var (
			list []Summary
			seq  uint64
			err  error
		)
		if s := r.URL.Query().Get("after"); s != "" {
			after, perr := strconv.ParseUint(s, 10, 64)
			if perr != nil {
				http.Error(w, "after: not an event number: "+s, http.StatusBadRequest)
				return
			}
			list, seq, err = IndividualsSince(n.store, after)
			if errors.Is(err, ErrAfterTheLog) {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		} else {
			list, seq, err = individualsAt(n.store)
		}
		if err == nil {
			w.Header().Set(EventsHeader, strconv.FormatUint(seq, 10))
		}
		reply(w, list, err)
	})
	n.mountDashboard(mux) // GET / and GET /api/v1/genome (dashboard.go)
	return guardLocal(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(PeerHeader, n.peer) // who answers (Daemon.Get checks it)
		mux.ServeHTTP(w, r)
	}))
}

// idParam reads a request's ?id=, defaulting to the best live individual.
func (n *Node) idParam(r *http.Request) (dna.ID, error) {
	if s := r.URL.Query().Get("id"); s != "" {
		return dna.ParseID(s)
	}
	return BestID(n.store)
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "node: encoding the reply: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// Individuals lists every individual the store has a record of.
func Individuals(s *store.Store) ([]Summary, error) {
	list, _, err := individualsAt(s)
	return list, err
}

// EventsHeader is the HTTP header in which GET /api/v1/individuals names
// the last event its list reflects: the cursor for its ?after=.
const EventsHeader = "Evoswarm-Events"

// ErrAfterTheLog is IndividualsSince's error for a cursor past the node's
// last event (another node's, or a repo made anew): read everything again.
var ErrAfterTheLog = errors.New("after is past this node's last event; read the individuals without it")

// individualsAt lists every record and the last event number, read in
// one snapshot.
func individualsAt(s *store.Store) ([]Summary, uint64, error) {
	var (
		out = []Summary{} // [] in JSON, not null
		seq uint64
	)
	err := s.View(func(tx *store.Tx) error {
		c, err := tx.Counters()
		if err != nil {
			return err
		}
		seq = c.Events
		return tx.Individuals(func(ind *store.Individual) error {
			out = append(out, summaryOf(ind))
			return nil
		})
	})
	return out, seq, err
}

// IndividualsSince lists, in one snapshot, the individuals whose record
// changed after event number after (every birth, immigration, death,
// error and abandonment is an event) and those now in training (starting
// to train is not one), and returns the last event number: merged by ID
// into an earlier list, they make the whole list again, at the cost of
// what changed rather than of every record (the dashboard's poll on a
// long run).
func IndividualsSince(s *store.Store, after uint64) ([]Summary, uint64, error) {
	out := []Summary{} // [] in JSON, not null
	var seq uint64
	err := s.View(func(tx *store.Tx) error {
		c, err := tx.Counters()
		if err != nil {
			return err
		}
		seq = c.Events
		if after > seq {
			return fmt.Errorf("%w (after %d, last event %d)", ErrAfterTheLog, after, seq)
		}
		seen := map[dna.ID]bool{}
		add := func(id dna.ID) error {
			if id.IsZero() || seen[id] {
				return nil
			}
			seen[id] = true
			ind, err := tx.Get(id)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			out = append(out, summaryOf(ind))
			return nil
		}
		if after < seq {
			err := tx.Events(after+1, func(ev store.Event) error {
				if ev.Type == store.EventEmigration { // changes nothing in the record's summary
					return nil
				}
				return add(ev.ID)
			})
			if err != nil {
				return err
			}
		}
		training, err := tx.Training()
		if err != nil {
			return err
		}
		for _, m := range training {
			if err := add(m.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, seq, err
}

// Trainer returns the training engine configured for the experiment, as
// the island uses it; tools use it to re-measure individuals.
func (n *Node) Trainer() island.Trainer { return trainer{data: n.data, cfg: n.trainConfig()} }

// trainConfig is the experiment's training configuration with the threads
// one network may use: the node's share of the cores per worker once Run
// has started, else every core.
func (n *Node) trainConfig() train.Config {
	c := n.exp.Train
	c.Threads = n.threads
	return c
}
