package node

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/evoswarm/evoswarm/gossip"
	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
)

// Status is what `evoswarm status --json` prints and GET /api/v1/status
// returns.
type Status struct {
	PeerID       string  `json:"peer_id"`
	ExperimentID string  `json:"experiment_id"`
	Running      bool    `json:"running"`
	Population   int     `json:"population"` // alive + in training
	Alive        int     `json:"alive"`
	Training     int     `json:"training"`
	SetPoint     int     `json:"set_point"`
	TrainedTotal uint64  `json:"trained_total"`
	KilledTotal  uint64  `json:"killed_total"`
	Abandoned    uint64  `json:"abandoned_total"`
	ErrorsTotal  uint64  `json:"errors_total"`
	Best         *Best   `json:"best"`
	FLOPsTotal   float64 `json:"flops_total"`
	// TrainingSeconds is the wall time the trainings recorded on this
	// node took, over every run of its repo (training_seconds_total;
	// repos from before it was kept count from then on). A training
	// interrupted by a stop is not counted: it is recorded as abandoned,
	// with no time.
	TrainingSeconds float64 `json:"training_seconds"`
	// ChildPhases is where the wall time of the children made since the
	// daemon started went (running daemon only).
	ChildPhases *ChildPhases `json:"child_phases,omitempty"`
	StartedAt   time.Time    `json:"started_at"`
	// Devices names the GPUs the workers train on (running daemon only;
	// none: the CPU).
	Devices []string `json:"devices,omitempty"`
	// Engine is the CPU training engine, with the instruction set oneDNN
	// dispatches to: "onednn (avx2)", or "gorgonia" (running daemon only).
	Engine      string `json:"engine,omitempty"`
	MigrantsIn  uint64 `json:"migrants_in"`  // immigrants that won their tournament
	MigrantsOut uint64 `json:"migrants_out"` // emigrations
	// Received counts announcements whose weights were fetched and whose
	// fitness was re-measured here (running daemon only); Dropped those
	// given up (weights unreachable or bogus); Penalized the claims far
	// from the measure; Rejected the announcements the topic validator
	// refused, by reason.
	Received  int64             `json:"migrants_received"`
	Dropped   int64             `json:"migrants_dropped"`
	Penalized int64             `json:"claims_penalized"`
	Rejected  map[string]uint64 `json:"rejected"`
	Peers     int               `json:"peers"`
	Addrs     []string          `json:"addrs"`
	Topic     string            `json:"topic"`
	API       string            `json:"api,omitempty"`
	// Gossip is the migrants topic's delivery counters and propagation
	// delays (running daemon only).
	Gossip *gossip.Stats `json:"gossip,omitempty"`
	// Admission is the immigration policy, its budget and what was heard
	// and admitted since the daemon started (running daemon only).
	Admission *AdmissionStatus `json:"admission,omitempty"`
}

// AdmissionStatus is the immigration policy (the experiment's migration
// settings) and its use: island.AdmissionStats, plus what the budget
// allowed so far and the share of FLOPs that re-measuring took.
type AdmissionStatus struct {
	Topology         string  `json:"topology"`
	NeighbourLimit   int     `json:"neighbour_limit"` // migration.neighbours
	ReshuffleSeconds float64 `json:"reshuffle_seconds,omitempty"`
	AdmitEvery       int     `json:"admit_every"`           // 0: no count limit
	ShareLimit       float64 `json:"remeasure_share_limit"` // 0: no compute limit
	DiversityShare   float64 `json:"diversity_share"`
	island.AdmissionStats
	// Allowed is what the count budget has earned: trained / admit_every
	// (absent without a count limit); Share is the re-measure share of
	// the FLOPs spent since the daemon started.
	Allowed *float64 `json:"allowed,omitempty"`
	Share   float64  `json:"remeasure_share"`
}

// admissionStatus reads an admission for the status.
func admissionStatus(adm *island.Admission, m Migration) *AdmissionStatus {
	a := &AdmissionStatus{Topology: m.Topology, NeighbourLimit: m.Neighbours, ReshuffleSeconds: m.ReshuffleSeconds,
		AdmitEvery: m.AdmitEvery, ShareLimit: m.RemeasureShare, DiversityShare: m.DiversityShare,
		AdmissionStats: adm.Stats(time.Now())}
	a.finish()
	return a
}

// finish derives Allowed and Share from the totals.
func (a *AdmissionStatus) finish() {
	a.Allowed = nil
	if a.AdmitEvery > 0 {
		v := float64(a.Trained) / float64(a.AdmitEvery)
		a.Allowed = &v
	}
	a.Share = a.RemeasureShare()
}

// add sums o's totals into a (for the swarm-wide view; the policy is the
// experiment's, the same on every node); known peers and neighbours are
// the largest of any node.
func (a *AdmissionStatus) add(o *AdmissionStatus) {
	s, t := &a.AdmissionStats, o.AdmissionStats
	s.Heard += t.Heard
	s.NotNeighbour += t.NotNeighbour
	s.Duplicate += t.Duplicate
	s.Replaced += t.Replaced
	s.Overflow += t.Overflow
	s.Expired += t.Expired
	s.Admitted += t.Admitted
	s.Refunded += t.Refunded
	s.Bogus += t.Bogus
	s.Unreachable += t.Unreachable
	s.PassedOver += t.PassedOver
	s.Diverse += t.Diverse
	s.Remeasured += t.Remeasured
	s.RemeasureFLOPs += t.RemeasureFLOPs
	s.Trained += t.Trained
	s.WorkFLOPs += t.WorkFLOPs
	s.Credit += t.Credit
	s.FLOPsCredit += t.FLOPsCredit
	s.Waiting += t.Waiting
	s.Known = max(s.Known, t.Known)
	s.Neighbours = max(s.Neighbours, t.Neighbours)
	a.finish()
}

// ChildPhases sums the phases of the children a node made (the same
// observations as the evoswarm_child_phase_seconds histogram).
type ChildPhases struct {
	Children int64   `json:"children"`
	Seconds  float64 `json:"seconds"` // all phases of all children
	// Phases are in the order a child goes through them: select, mutate,
	// build, train, evaluate, store, emigrate.
	Phases []PhaseSeconds `json:"phases"`
}

// PhaseSeconds is one phase's total.
type PhaseSeconds struct {
	Phase   string  `json:"phase"`
	Seconds float64 `json:"seconds"`
}

// childPhases reads an island's child-phase totals.
func childPhases(s *island.Stats) *ChildPhases {
	cp := &ChildPhases{Children: s.Timed.Load(), Phases: make([]PhaseSeconds, island.NumPhases)}
	for p := range island.NumPhases {
		sec := time.Duration(s.ChildPhases[p].Load()).Seconds()
		cp.Phases[p] = PhaseSeconds{Phase: p.String(), Seconds: sec}
		cp.Seconds += sec
	}
	return cp
}

// add sums o into c, phase by phase (for the swarm-wide view).
func (c *ChildPhases) add(o *ChildPhases) {
	c.Children += o.Children
	c.Seconds += o.Seconds
	for _, p := range o.Phases {
		i := slices.IndexFunc(c.Phases, func(q PhaseSeconds) bool { return q.Phase == p.Phase })
		if i < 0 {
			c.Phases = append(c.Phases, p)
		} else {
			c.Phases[i].Seconds += p.Seconds
		}
	}
}

// readStatus fills the store's part of a Status.
func readStatus(s *store.Store, st *Status) error {
	return s.View(func(tx *store.Tx) error {
		alive, err := tx.Alive()
		if err != nil {
			return err
		}
		training, err := tx.Training()
		if err != nil {
			return err
		}
		c, err := tx.Counters()
		if err != nil {
			return err
		}
		st.Alive, st.Training, st.Population = len(alive), len(training), len(alive)+len(training)
		st.TrainedTotal, st.KilledTotal, st.Abandoned, st.ErrorsTotal = c.Trained, c.Killed, c.Abandoned, c.Errors
		st.FLOPsTotal, st.MigrantsIn, st.MigrantsOut = c.FLOPs, c.MigrantsIn, c.MigrantsOut
		st.TrainingSeconds = c.TrainingSeconds
		if len(alive) == 0 {
			return nil
		}
		best := alive[0]
		for _, m := range alive[1:] {
			if m.Fitness > best.Fitness {
				best = m
			}
		}
		rec, err := tx.Get(best.ID)
		if err != nil {
			return err
		}
		st.Best = bestOf(rec)
		return nil
	})
}

// Lineage returns the ancestry of id, oldest first, following parent IDs
// through the store's records (the dead's included) and, at an immigrant,
// on through the chain it came with from its sender, whatever nodes that
// ran through; each step names its node. Where the chain is unknown, an
// ancestor marked ChainUnknown ends it.
func Lineage(s *store.Store, id dna.ID) ([]Ancestor, error) {
	if id.IsZero() { // the walk's own end mark, never an individual
		return nil, fmt.Errorf("node: individual %s is not in this repo", id.Short())
	}
	var steps []chainStep
	err := s.View(func(tx *store.Tx) error {
		var err error
		steps, err = walkLineage(tx, id, "", math.MaxInt)
		return err
	})
	if errors.Is(err, errNotHere) {
		return nil, fmt.Errorf("node: individual %s is not in this repo", id.Short())
	}
	if err != nil {
		return nil, err
	}
	out := make([]Ancestor, 0, len(steps))
	for i := len(steps) - 1; i >= 0; i-- {
		out = append(out, ancestorOf(steps[i]))
	}
	return out, nil
}

// BestID returns the ID of the fittest live individual.
func BestID(s *store.Store) (dna.ID, error) {
	var st Status
	if err := readStatus(s, &st); err != nil {
		return dna.ID{}, err
	}
	if st.Best == nil {
		return dna.ID{}, errors.New("node: the population is empty")
	}
	return dna.ParseID(st.Best.ID)
}

// Point is the best validation accuracy reached by a time.
type Point struct {
	Minutes float64 `json:"minutes"`
	Best    float64 `json:"best_val_accuracy"`
	BestID  string  `json:"best_id"`
	Trained int     `json:"trained"`
}

// Progress returns the best-so-far curve of a run from its records: for
// each individual born here, in birth order, the minutes since the first
// birth and the best fitness so far. Immigrants count too: they are part
// of what the node holds.
func Progress(s *store.Store) ([]Point, error) {
	var recs []*store.Individual
	err := s.View(func(tx *store.Tx) error {
		return tx.Individuals(func(ind *store.Individual) error {
			if ind.BirthSeq > 0 {
				recs = append(recs, ind)
			}
			return nil
		})
	})
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	slices.SortFunc(recs, func(a, b *store.Individual) int { return cmp.Compare(a.BirthSeq, b.BirthSeq) })
	start := recs[0].Born
	var out []Point
	best, bestID := -1.0, ""
	for i, r := range recs {
		if r.Fitness > best {
			best, bestID = r.Fitness, r.ID.String()
		}
		out = append(out, Point{Minutes: r.Born.Sub(start).Minutes(), Best: best, BestID: bestID, Trained: i + 1})
	}
	return out, nil
}
