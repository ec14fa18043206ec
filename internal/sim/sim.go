// Package sim simulates an island-model swarm of up to tens of thousands
// of nodes in one process, to see what the immigration policy costs each
// node and what it does to diversity as the swarm grows.
//
// Each virtual node runs the real code: an island.Island (seeding,
// tournaments and selection, mutation, emigration every EmigrateEvery
// children, the immigrants' tournament) driven one task at a time through
// Island.Step and Island.Immigrate, over an in-memory population, and an
// island.Admission over an island.Neighbourhood (the topology and the
// admission budget the daemon uses). Only two things are fake: training,
// which a Landscape replaces (fitness from the genome's architecture and
// its lineage's accumulated training, plus noise; costs from the real FLOPs
// model), and the network, which an in-memory exchange replaces: an
// announcement reaches, at once, the nodes whose neighbourhood holds its
// sender, and an admitted migrant's weights are read from the sender's
// message instead of fetched.
//
// Time is virtual: each node is busy for the virtual duration of what it
// does (re-measuring its immigrants, then training a child) and events run
// in order of time on one goroutine, so a run is repeatable from its seed
// and costs CPU in proportion to the children trained, not to wall time.
// A task runs when it starts, but what it makes is dated when it would be
// done: an individual counts in reports only from the end of its training
// (or re-measure), and an announcement reaches the neighbours then, so no
// result travels or counts before it exists.
package sim

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
)

// Config is one simulation.
type Config struct {
	// Nodes is the number of virtual nodes.
	Nodes int
	// Minutes is the virtual duration; Children, if > 0, also stops a
	// node after that many individuals trained.
	Minutes  float64
	Children int
	// Population, Mode and Mutation are the islands' (the experiment's).
	Population int
	Mode       island.Mode
	Mutation   dna.MutateOptions
	// EmigrateEvery: a node announces its best unsent individual every
	// EmigrateEvery children.
	EmigrateEvery int
	// Topology and Policy are the immigration settings under test.
	Topology island.Topology
	Policy   island.AdmissionPolicy
	// Landscape is the fake trainer.
	Landscape Landscape
	// Spread makes nodes unequal: speeds uniform in [1-Spread, 1+Spread].
	Spread float64
	// Seed fixes the run.
	Seed uint64
	// Reports is how many times (evenly over Minutes) OnReport is called.
	Reports  int
	OnReport func(*Report)
	// Sample bounds the nodes whose population is compared genome by
	// genome for a report (0: 1,000).
	Sample int
	// MaxWall stops the simulation early (0: never); the last report is
	// made at the virtual time reached.
	MaxWall time.Duration
}

// NodeStats is one node at a report: what it heard and admitted, what
// re-measuring cost it, and its population's diversity.
type NodeStats struct {
	Node    string
	Trained int64 // individuals trained (initial ones included)
	Sent    int64 // emigrants announced
	// Gossip is what a real swarm's pubsub would deliver to it: every
	// announcement of every other node. Heard is what reached its
	// admission, from its neighbourhood; the rest cost only their gossip.
	Gossip, Heard int64
	// Admitted: weights fetched and fitness re-measured; Accepted: won
	// their tournament.
	Admitted, Accepted int64
	// RemeasureFLOPs and WorkFLOPs (its own training); Share is
	// RemeasureFLOPs over both; MaxRemeasure the dearest re-measure.
	RemeasureFLOPs, WorkFLOPs, Share, MaxRemeasure float64
	// Lineages is the number of distinct lineages (initial individuals)
	// alive in its population; Distance the mean Distance between its
	// individuals' architectures (-1 when not sampled).
	Lineages int
	Distance float64
	// Best is its best individual's fitness as it measured it; Lineage
	// that individual's lineage.
	Best    float64
	Lineage uint64
}

// Report is the swarm at a virtual time.
type Report struct {
	Minutes float64
	Nodes   []NodeStats
	// Published announcements in all.
	Published int64
	// Lineages alive anywhere; Leaders: distinct lineages among the nodes'
	// best individuals; LeaderDistance: mean Distance between the best
	// individuals of random pairs of nodes.
	Lineages, Leaders int
	LeaderDistance    float64
	// Best is the best fitness of any node; MeanBest the mean of the
	// nodes' bests.
	Best, MeanBest float64
	// Wall is the wall time the simulation has taken so far.
	Wall time.Duration
}

// vnode is one virtual node.
type vnode struct {
	id    string
	index int
	is    *island.Island
	pop   *pop
	tr    *trainer
	adm   *island.Admission
	rng   *rand.Rand // the island's worker stream
	irng  *rand.Rand // its immigration tournaments'
	busy  float64    // virtual seconds the task under way has taken so far
	flops int64      // FLOPs of the task just run (OnTrained)
	dear  float64    // the dearest re-measure so far, in FLOPs
	trained,
	sent, accepted int64
	// doneAt is when the latest task ends; pending, that it trained an
	// individual, which reports count only from then.
	doneAt  float64
	pending bool
	done    bool
}

// at is the virtual time at which what the task under way makes now
// exists: its start, plus the re-measures so far, plus the training just
// run (the trainer's last duration; zero between trainings).
func (s *Sim) at(v *vnode) float64 { return s.now + v.busy + v.tr.last }

// port is a node's island.Exchange: Send publishes into the simulation;
// immigrants are admitted by the simulation's loop, not received.
type port struct {
	s *Sim
	v *vnode
}

func (p port) Send(_ context.Context, m island.Migrant) error {
	p.s.publish(p.v, m)
	return nil
}

func (p port) Receive() <-chan island.Migrant { return nil }

// Sim is a running simulation.
type Sim struct {
	cfg    Config
	nodes  []*vnode
	byID   map[string]*vnode
	nb     *island.Neighbourhood
	now    float64 // virtual seconds
	epoch  time.Time
	sent   int64
	start  time.Time
	events eventQueue
}

// New builds the swarm: every node knows every other (the roster a long
// running swarm's gossip gives), has an empty population, and a speed.
func New(cfg Config) (*Sim, error) {
	switch {
	case cfg.Nodes < 1:
		return nil, fmt.Errorf("sim: %d nodes", cfg.Nodes)
	case !(cfg.Minutes > 0):
		return nil, errors.New("sim: the virtual duration must be positive")
	case cfg.Spread < 0 || cfg.Spread >= 1:
		return nil, fmt.Errorf("sim: speed spread %v is outside [0, 1)", cfg.Spread)
	case cfg.Children < 0:
		return nil, fmt.Errorf("sim: %d children a node; want 0 (no limit) or more", cfg.Children)
	case cfg.Reports < 0:
		return nil, fmt.Errorf("sim: %d reports; want 1 or more", cfg.Reports)
	case cfg.Sample < 0:
		return nil, fmt.Errorf("sim: a sample of %d nodes; want 1 or more (0: 1,000)", cfg.Sample)
	case cfg.MaxWall < 0:
		return nil, fmt.Errorf("sim: a wall-time limit of %v; want 0 (none) or more", cfg.MaxWall)
	}
	if cfg.Reports < 1 {
		cfg.Reports = 1
	}
	if cfg.Sample == 0 {
		cfg.Sample = 1000
	}
	if cfg.Mode == "" {
		cfg.Mode = island.Worst
	}
	roster := island.NewRoster(0)
	s := &Sim{cfg: cfg, byID: make(map[string]*vnode, cfg.Nodes), nb: island.NewNeighbourhood(cfg.Topology, roster, 0),
		epoch: time.Unix(0, 0).UTC()}
	speeds := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	for i := range cfg.Nodes {
		v := &vnode{id: fmt.Sprintf("node-%05d", i), index: i, pop: &pop{}}
		v.pop.at = func() float64 { return s.at(v) }
		roster.Pin(v.id)
		stream := splitmix(cfg.Seed ^ uint64(i)<<20)
		v.tr = &trainer{l: &s.cfg.Landscape, split: stream, speed: 1 + cfg.Spread*(2*speeds.Float64()-1)}
		ic := island.Config{
			SetPoint: cfg.Population, Workers: 1, Mode: cfg.Mode, Mutation: cfg.Mutation,
			Input: dna.Shape{H: 28, W: 28, C: 1}, Classes: 10, LearningRate: dna.PaperLearningRate,
			Seed: cfg.Seed, Stream: stream, Origin: v.id, EmigrateEvery: cfg.EmigrateEvery,
			OnTrained: func(t island.Timing) { v.flops = t.FLOPs },
		}
		var err error
		if v.is, err = island.New(ic, v.pop, v.tr, port{s, v}, nil); err != nil {
			return nil, err
		}
		if v.adm, err = island.NewAdmission(v.id, cfg.Policy, s.nb); err != nil {
			return nil, err
		}
		v.rng = rand.New(rand.NewPCG(cfg.Seed^stream, 1))
		v.irng = rand.New(rand.NewPCG(cfg.Seed, stream))
		s.nodes = append(s.nodes, v)
		s.byID[v.id] = v
	}
	return s, nil
}

// clock is the virtual time as the island code sees it.
func (s *Sim) clock() time.Time {
	return s.epoch.Add(time.Duration(s.now * float64(time.Second)))
}

// publish schedules an emigrant's delivery for when the task that sent it
// is done.
func (s *Sim) publish(v *vnode, m island.Migrant) {
	c := island.Candidate{ID: m.Genome.ID(), Genome: m.Genome, From: v.id, Claimed: m.Fitness, Payload: m}
	heap.Push(&s.events, event{t: s.at(v), v: v, c: &c})
}

// deliver hands an announcement of v to the nodes that take migrants from
// v, at the current time.
func (s *Sim) deliver(v *vnode, c island.Candidate) {
	s.sent++
	v.sent++
	now := s.clock()
	if s.cfg.Topology.All() {
		for _, u := range s.nodes {
			if u != v {
				u.adm.Heard(c, now)
			}
		}
		return
	}
	for _, id := range s.nb.Out(v.id, now) {
		s.byID[id].adm.Heard(c, now)
	}
}

// Run runs the simulation to its end, reporting along the way.
func (s *Sim) Run(ctx context.Context) (*Report, error) {
	s.start = time.Now()
	end := s.cfg.Minutes * 60
	for _, v := range s.nodes {
		heap.Push(&s.events, event{t: 0, v: v})
	}
	next := 1
	var last *Report
	for s.events.Len() > 0 {
		e := heap.Pop(&s.events).(event)
		for next <= s.cfg.Reports && e.t >= end*float64(next)/float64(s.cfg.Reports) {
			s.now = end * float64(next) / float64(s.cfg.Reports)
			last = s.report()
			next++
		}
		if e.t >= end {
			break
		}
		if err := ctx.Err(); err != nil {
			return last, err
		}
		if s.cfg.MaxWall > 0 && time.Since(s.start) > s.cfg.MaxWall {
			s.now = e.t
			last = s.report()
			return last, fmt.Errorf("sim: stopped after %v of wall time, at %.1f of %.0f virtual minutes", s.cfg.MaxWall, e.t/60, s.cfg.Minutes)
		}
		s.now = e.t
		if e.c != nil {
			s.deliver(e.v, *e.c)
			continue
		}
		busy, err := s.step(ctx, e.v)
		if err != nil {
			return last, err
		}
		if !e.v.done {
			heap.Push(&s.events, event{t: e.t + busy, v: e.v})
		}
	}
	for ; next <= s.cfg.Reports; next++ {
		s.now = end * float64(next) / float64(s.cfg.Reports)
		last = s.report()
	}
	return last, nil
}

// step runs one task of node v at the current time: as many admissions as
// its budget allows, each re-measured and let compete, then one individual
// trained (and maybe an emigrant announced). It returns how long v is busy.
func (s *Sim) step(ctx context.Context, v *vnode) (float64, error) {
	v.flops, v.tr.last, v.busy = 0, 0, 0
	now := s.clock()
	for {
		t, ok, err := v.adm.Next(now, v.pop.residents)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		if v.pop.recorded(t.ID) {
			// Here before (one of its own come back, or an immigrant that
			// died): refunded unmeasured, as the daemon does.
			v.adm.Refuse(t)
			continue
		}
		m := t.Payload.(island.Migrant)
		st, err := decodeState(m.Weights)
		if err != nil {
			return 0, err
		}
		measured := s.cfg.Landscape.fitness(m.Genome, st, t.ID, v.tr.split)
		v.busy += s.cfg.Landscape.remeasureSeconds(m.Genome, v.tr.speed)
		v.adm.Release(t, true, measured)
		v.dear = max(v.dear, t.Cost)
		joined, err := v.is.Immigrate(island.Migrant{Genome: m.Genome, Fitness: measured, Claimed: t.Claimed, Weights: m.Weights, Origin: m.Origin}, v.irng)
		if err != nil {
			return 0, err
		}
		if joined {
			v.accepted++
		}
	}
	if err := v.is.Step(ctx, v.rng); err != nil {
		return 0, err
	}
	v.busy += v.tr.last
	v.pending = v.flops > 0
	if v.pending {
		v.trained++
		v.adm.Worked(float64(v.flops))
	}
	busy := v.busy
	if busy == 0 {
		busy = 0.01 // nothing trained (no valid mutation): try again soon
	}
	v.doneAt = s.now + busy
	v.busy, v.tr.last = 0, 0
	if s.cfg.Children > 0 && v.trained >= int64(s.cfg.Children) {
		v.done = true
	}
	return busy, nil
}

// report takes the swarm's measures at the current time.
func (s *Sim) report() *Report {
	now := s.clock()
	r := &Report{Minutes: s.now / 60, Published: s.sent, Nodes: make([]NodeStats, len(s.nodes)), Wall: time.Since(s.start)}
	lineages := map[uint64]bool{}
	leaders := map[uint64]bool{}
	sample := rand.New(rand.NewPCG(s.cfg.Seed, 0xd15))
	sampled := map[int]bool{}
	if s.cfg.Sample >= len(s.nodes) {
		for i := range s.nodes {
			sampled[i] = true
		}
	} else {
		for _, i := range sample.Perm(len(s.nodes))[:s.cfg.Sample] {
			sampled[i] = true
		}
	}
	var bests []*member
	for i, v := range s.nodes {
		st := v.adm.Stats(now)
		trained := v.trained
		if v.pending && v.doneAt > s.now {
			trained-- // still training
		}
		alive := v.pop.aliveAt(s.now)
		ns := NodeStats{Node: v.id, Trained: trained, Sent: v.sent, Gossip: s.sent - v.sent,
			Heard: st.Heard - st.NotNeighbour, Admitted: st.Admitted - st.Refunded, Accepted: v.accepted,
			RemeasureFLOPs: st.RemeasureFLOPs, WorkFLOPs: st.WorkFLOPs, Share: st.RemeasureShare(), MaxRemeasure: v.dear,
			Distance: -1}
		here := map[uint64]bool{}
		var best *member
		for _, m := range alive {
			if ls, err := decodeState(m.weights); err == nil {
				here[ls.lineage] = true
				lineages[ls.lineage] = true
			}
			if best == nil || m.fitness > best.fitness {
				best = m
			}
		}
		ns.Lineages = len(here)
		if best != nil {
			ns.Best = best.fitness
			if ls, err := decodeState(best.weights); err == nil {
				ns.Lineage = ls.lineage
				leaders[ls.lineage] = true
			}
			bests = append(bests, best)
			r.Best = max(r.Best, best.fitness)
			r.MeanBest += best.fitness / float64(len(s.nodes))
		}
		if sampled[i] && len(alive) > 1 {
			sigs := make([]island.Signature, len(alive))
			for j, m := range alive {
				sigs[j] = island.SignatureOf(m.genome)
			}
			sum, n := 0.0, 0
			for a := range sigs {
				for b := a + 1; b < len(sigs); b++ {
					sum += island.Distance(sigs[a], sigs[b])
					n++
				}
			}
			ns.Distance = sum / float64(n)
		}
		r.Nodes[i] = ns
	}
	r.Lineages, r.Leaders = len(lineages), len(leaders)
	if len(bests) > 1 {
		pairs := min(2000, len(bests)*(len(bests)-1)/2)
		sum := 0.0
		for range pairs {
			a := sample.IntN(len(bests))
			b := sample.IntN(len(bests) - 1)
			if b >= a {
				b++
			}
			sum += island.Distance(island.SignatureOf(bests[a].genome), island.SignatureOf(bests[b].genome))
		}
		r.LeaderDistance = sum / float64(pairs)
	}
	if s.cfg.OnReport != nil {
		s.cfg.OnReport(r)
	}
	return r
}

// event is, at virtual time t, node v becoming free, or (c set) an
// announcement of v reaching its neighbours.
type event struct {
	t float64
	v *vnode
	c *island.Candidate
}

// eventQueue orders events by time, then by node, so a run is repeatable.
type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].t != q[j].t {
		return q[i].t < q[j].t
	}
	if (q[i].c != nil) != (q[j].c != nil) {
		return q[i].c != nil // deliveries first: a node free at that instant has heard them
	}
	return q[i].v.index < q[j].v.index
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// Summary is a statistic of a per-node measure over the nodes.
type Summary struct{ Mean, Min, Median, P99, Max float64 }

// Summarize returns the summary of f over the nodes (those where f is not
// NaN).
func Summarize(nodes []NodeStats, f func(NodeStats) float64) Summary {
	xs := make([]float64, 0, len(nodes))
	for _, n := range nodes {
		if x := f(n); !math.IsNaN(x) {
			xs = append(xs, x)
		}
	}
	if len(xs) == 0 {
		return Summary{}
	}
	slices.Sort(xs)
	var sum float64
	for _, x := range xs {
		sum += x
	}
	q := func(p float64) float64 { return xs[min(len(xs)-1, int(p*float64(len(xs))))] }
	return Summary{Mean: sum / float64(len(xs)), Min: xs[0], Median: q(0.5), P99: q(0.99), Max: xs[len(xs)-1]}
}

// WithinBudget checks every node's admissions against the policy: at most
// one per Every individuals trained, and re-measuring at most Share of the
// FLOPs, give or take the node's dearest re-measure (the budget may be
// overdrawn by one admission, then earned back). It returns the first
// violation.
func WithinBudget(r *Report, p island.AdmissionPolicy) error {
	for _, n := range r.Nodes {
		if p.Every > 0 && float64(n.Admitted) > float64(n.Trained)/float64(p.Every) {
			return fmt.Errorf("%s admitted %d for %d trained, more than one per %d", n.Node, n.Admitted, n.Trained, p.Every)
		}
		if p.Share > 0 && n.RemeasureFLOPs > p.Share/(1-p.Share)*n.WorkFLOPs+n.MaxRemeasure {
			return fmt.Errorf("%s spent %.3g FLOPs re-measuring for %.3g of its own, above the share %v", n.Node, n.RemeasureFLOPs, n.WorkFLOPs, p.Share)
		}
	}
	return nil
}
