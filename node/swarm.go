package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evoswarm/evoswarm/gossip"
	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
	"github.com/evoswarm/evoswarm/train"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ClaimTolerance is how far a migrant's claimed fitness may be from what
// this node measures before its sender is penalised. Different validation
// splits and batch-norm statistics legitimately move accuracy a little;
// a lie moves it a lot.
const ClaimTolerance = 0.05

// exchange is the island's Exchange over the gossip layer: emigrants are
// announced on the experiment's topic; immigrants' weights are fetched from
// their sender over a direct stream, verified against the announced
// digest, and their fitness is re-measured on this node's validation split
// before they may compete. A claim is never trusted.
type exchange struct {
	sw      *gossip.Swarm
	exp     *Experiment
	self    peer.ID
	pop     population
	measure func(ctx context.Context, g *dna.Genome, w []byte) (float64, error)
	// evaluable, if set, tells before the weights are fetched whether
	// measure could run the genome here at all (its memory, its data).
	evaluable func(g *dna.Genome) error
	log       *slog.Logger
	in        chan island.Migrant
	// adm decides which announcements are admitted (fetched, re-measured,
	// let compete), within the budget the node's own training earns;
	// residents reads the live population for it. An exchange built
	// without them admits every announcement (run fills them in).
	adm       *island.Admission
	residents func() ([]island.Resident, error)
	// spent, if set, is told the FLOPs of each re-measure (the store's
	// flops_total counts them).
	spent func(flops float64)

	mu     sync.Mutex
	recent map[dna.ID][]byte // weights of recent emigrants, served even after they die
	order  []dna.ID

	Remeasured atomic.Int64
	Penalized  atomic.Int64
	Dropped    atomic.Int64

	onClaim func(off float64) // if set, sees |claimed - measured| of each re-measured migrant
}

const recentEmigrants = 32

// bogusWeightsPenalty is the score a peer loses for serving weights that do
// not match what it announced: as much as a wildly wrong fitness claim.
const bogusWeightsPenalty = 200

// Weights serves a weights blob to a peer: a recent emigrant's, or any
// alive individual's.
func (x *exchange) Weights(id dna.ID) ([]byte, error) {
	x.mu.Lock()
	w, ok := x.recent[id]
	x.mu.Unlock()
	if ok {
		return w, nil
	}
	w, err := x.pop.Weights(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", gossip.ErrWeightsNotFound, id.Short(), err)
	}
	return w, nil
}

// Send announces an emigrant.
func (x *exchange) Send(ctx context.Context, m island.Migrant) error {
	id := m.Genome.ID()
	digest, err := train.Digest(m.Weights)
	if err != nil {
		return err
	}
	x.mu.Lock()
	if _, ok := x.recent[id]; !ok {
		x.recent[id] = m.Weights
		x.order = append(x.order, id)
		if len(x.order) > recentEmigrants {
			delete(x.recent, x.order[0])
			x.order = x.order[1:]
		}
	}
	x.mu.Unlock()
	a := gossip.Announcement{
		Experiment: x.exp.FullID(), Genome: m.Genome, ID: id, Fitness: m.Fitness,
		WeightsDigest: digest, WeightsSize: int64(len(m.Weights)),
		Origin: x.self, SentAt: time.Now(),
	}
	if origin, err := peer.Decode(m.Origin); err == nil {
		a.Origin = origin
		a.Relayed = origin != x.self
	}
	return x.sw.Publish(ctx, a)
}

// Receive returns verified, re-measured immigrants.
func (x *exchange) Receive() <-chan island.Migrant { return x.in }

// admitters is how many admissions run at once, so that one slow or
// unreachable weights holder does not stall the others.
const admitters = 3

// admitPoll is how often an idle admitter looks again without being
// woken: announcements expire and the topology reshuffles with time.
const admitPoll = 2 * time.Second

// run offers received announcements to the admission, and turns the
// admitted ones into immigrants, until ctx ends.
func (x *exchange) run(ctx context.Context) {
	if x.adm == nil {
		nb := island.NewNeighbourhood(island.Topology{Kind: island.TopologyAll}, island.NewRoster(0), 0)
		x.adm, _ = island.NewAdmission(x.self.String(), island.AdmissionPolicy{}, nb)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if x.pop.s != nil {
		wg.Go(func() { x.pruneLineage(ctx) })
	}
	wg.Go(func() {
		for {
			var r gossip.Received
			var ok bool
			select {
			case <-ctx.Done():
				return
			case r, ok = <-x.sw.Migrants():
				if !ok {
					return
				}
			}
			at := r.At
			if at.IsZero() {
				at = time.Now()
			}
			x.adm.Heard(island.Candidate{ID: r.ID, Genome: r.Genome, From: r.From.String(), Claimed: r.Fitness, Payload: r}, at)
		}
	})
	for range admitters {
		wg.Go(func() {
			for ctx.Err() == nil {
				t, ok, err := x.adm.Next(time.Now(), x.residents)
				if err != nil {
					x.log.Warn("admission: reading the population", "err", err)
				}
				if !ok {
					select {
					case <-ctx.Done():
					case <-x.adm.Wake():
					case <-time.After(admitPoll):
					}
					continue
				}
				r := t.Payload.(gossip.Received)
				m, err := x.admit(ctx, t, r)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					x.Dropped.Add(1)
					x.log.Info("immigrant dropped", "id", r.ID.Short(), "from", r.From, "err", err)
					continue
				}
				select {
				case x.in <- m:
				case <-ctx.Done():
					return
				}
			}
		})
	}
}

// admit fetches an admitted migrant's weights from its sender, checks
// them, measures its fitness here, and gives the ticket back: refunded
// when nothing was measured.
func (x *exchange) admit(ctx context.Context, t island.Ticket, r gossip.Received) (island.Migrant, error) {
	if known, err := x.pop.recorded(r.ID); err != nil || known {
		// Alive here, or here before and dead: nothing to learn from it,
		// and it could not be inserted.
		if err == nil {
			x.adm.Refuse(t)
		} else {
			x.adm.Release(t, false, math.NaN())
		}
		if err == nil {
			err = errors.New("already recorded here")
		}
		return island.Migrant{}, err
	}
	if x.evaluable != nil {
		if err := x.evaluable(r.Genome); err != nil {
			switch {
			case errors.Is(err, train.ErrMemoryBudget):
				x.adm.Refuse(t) // it would not fit here from any sender
			case errors.Is(err, train.ErrDataMismatch):
				x.bogus(t, r, "announced %s, a genome that does not fit the data")
			default:
				x.adm.Refuse(t)
			}
			return island.Migrant{}, fmt.Errorf("before fetching its weights: %w", err)
		}
	}
	w, err := x.sw.FetchWeights(ctx, r.From, r.ID, r.WeightsDigest, int(r.WeightsSize))
	if err != nil {
		switch {
		case errors.Is(err, gossip.ErrDigestMismatch) || errors.Is(err, gossip.ErrSizeMismatch):
			x.bogus(t, r, "served weights for %s that do not match their announcement")
		case ctx.Err() != nil || errors.Is(err, gossip.ErrClosed) || errors.Is(err, gossip.ErrWeightsNotFound):
			// Stopping; or the sender answered that it no longer holds
			// them (the individual died there meanwhile).
			x.adm.Release(t, false, math.NaN())
		default:
			// No answer in time: its announcements wait a while
			// (island.Admission.Unreachable).
			x.adm.Unreachable(t, time.Now())
		}
		return island.Migrant{}, fmt.Errorf("fetching weights: %w", err)
	}
	measured, err := x.measure(ctx, r.Genome, w)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			x.adm.Release(t, false, math.NaN()) // stopping: nothing measured
		case errors.Is(err, train.ErrMemoryBudget):
			x.adm.Refuse(t) // nothing measured, nobody's fault; it would not fit again
		case errors.Is(err, train.ErrCorruptWeights) || errors.Is(err, train.ErrWeightsMismatch) || errors.Is(err, train.ErrDataMismatch):
			x.bogus(t, r, "served weights for %s that do not decode or do not fit it, or announced a genome that does not fit the data")
		default:
			x.adm.Release(t, true, math.NaN()) // the re-measure ran: its FLOPs count
			if x.spent != nil {
				x.spent(t.Cost)
			}
		}
		return island.Migrant{}, fmt.Errorf("re-measuring: %w", err)
	}
	x.adm.Release(t, true, measured)
	if x.spent != nil {
		x.spent(t.Cost)
	}
	x.Remeasured.Add(1)
	off := math.Abs(r.Fitness - measured)
	if x.onClaim != nil {
		x.onClaim(off)
	}
	if off > ClaimTolerance {
		x.Penalized.Add(1)
		x.sw.Penalize(r.From, 10*off/ClaimTolerance, fmt.Sprintf("claimed fitness %.4f for %s, measured %.4f", r.Fitness, r.ID.Short(), measured))
		x.log.Warn("claimed fitness far from the measured one", "id", r.ID.Short(), "from", r.From, "claimed", r.Fitness, "measured", measured)
	}
	x.log.Debug("admitted", "id", r.ID.Short(), "from", r.From, "claimed", r.Fitness, "measured", measured, "diverse", t.Diverse, "novelty", t.Novelty)
	x.keepLineage(ctx, r) // best effort: the ancestry it came with, kept with it
	return island.Migrant{Genome: r.Genome, Fitness: measured, Claimed: r.Fitness, Weights: w, Origin: r.Origin.String()}, nil
}

// bogus gives back the ticket of a migrant that was its sender's fault,
// refunded and remembered against the sender (island.Admission.Bogus),
// and penalises the sender's peer score; why names the individual with %s.
func (x *exchange) bogus(t island.Ticket, r gossip.Received, why string) {
	x.adm.Bogus(t)
	x.Penalized.Add(1)
	x.sw.Penalize(r.From, bogusWeightsPenalty, fmt.Sprintf(why, r.ID.Short()))
}

// lineagePrune is how often a running node drops the chains of migrants
// that lost their tournament; lineageKeep is how old such a chain must be.
// An admission takes seconds, or minutes when its weights are slow to come
// (three tries of up to 2 minutes), so none still in flight loses its
// chain.
const (
	lineagePrune = 10 * time.Minute
	lineageKeep  = 30 * time.Minute
)

// pruneLineage drops, every lineagePrune until ctx ends, the stored chains
// of migrants that did not become individuals here: a sender could
// otherwise fill the store with the long chains of migrants that lose.
func (x *exchange) pruneLineage(ctx context.Context) {
	tick := time.NewTicker(lineagePrune)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if n, err := x.pop.s.PruneLineage(now.Add(-lineageKeep)); err != nil {
				x.log.Warn("pruning the chains of migrants that did not stay", "err", err)
			} else if n > 0 {
				x.log.Debug("pruned the chains of migrants that did not stay", "chains", n)
			}
		}
	}
}

// recorded reports whether id is recorded in the store, alive, dead or in
// training.
func (p population) recorded(id dna.ID) (bool, error) {
	if p.s == nil {
		return false, nil
	}
	_, err := p.s.Get(id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// residents reads the live population with genomes, for the admission.
func (p population) residents() ([]island.Resident, error) {
	var out []island.Resident
	err := p.s.View(func(tx *store.Tx) error {
		alive, err := tx.Alive()
		if err != nil {
			return err
		}
		out = make([]island.Resident, 0, len(alive))
		for _, m := range alive {
			rec, err := tx.Get(m.ID)
			if err != nil {
				return err
			}
			g, err := dna.DecodeBinary(rec.Genome)
			if err != nil {
				return err
			}
			out = append(out, island.Resident{ID: m.ID, Fitness: m.Fitness, Genome: g})
		}
		return nil
	})
	return out, err
}

// startSwarm starts the gossip layer for the node.
func (n *Node) startSwarm(ctx context.Context, priv crypto.PrivKey) (*exchange, error) {
	cfg := gossip.DefaultConfig()
	cfg.ExperimentID = n.exp.FullID()
	cfg.Identity = priv
	cfg.Bounds = n.exp.Bounds.dna()
	cfg.Input, cfg.Classes = dna.Shape{H: n.data.H, W: n.data.W, C: n.data.C}, n.data.Classes
	cfg.MaxWeightsBytes = int64(maxWeightBytes(cfg.Bounds))
	cfg.Logger = n.log
	cfg.ListenAddrs = n.cfg.Listen
	cfg.Bootstrap = n.cfg.Bootstrap
	cfg.MDNS, cfg.DHT, cfg.NAT, cfg.RelayService = n.cfg.MDNS, n.cfg.DHT, n.cfg.NAT, n.cfg.RelayService
	cfg.ForcePrivate = n.cfg.ForcePrivate
	cfg.PeerStore = peerState{n.store} // bans and the replay cache survive a restart
	key, err := os.ReadFile(filepath.Join(n.dir, SwarmKeyFile))
	switch {
	case err == nil:
		if cfg.SwarmKey, err = gossip.ParseSwarmKey(key); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(n.dir, SwarmKeyFile), err)
		}
	case !os.IsNotExist(err):
		return nil, err
	}
	x := &exchange{
		exp: n.exp, pop: population{n.store}, log: n.log.With("component", "exchange"),
		in: make(chan island.Migrant, 16), recent: map[dna.ID][]byte{},
	}
	x.evaluable = func(g *dna.Genome) error { return train.CheckEvaluable(g, n.data, n.trainConfig()) }
	x.measure = func(ctx context.Context, g *dna.Genome, wb []byte) (float64, error) {
		w, err := train.DecodeWeights(wb, maxWeightBytes(cfg.Bounds))
		if err != nil {
			return 0, err
		}
		return train.Evaluate(ctx, g, w, n.data, n.data.Val, n.trainConfig())
	}
	cfg.Weights = x
	sw, err := gossip.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	x.sw, x.self = sw, sw.ID()
	serveLineage(sw, n.store, x.log)
	nb := island.NewNeighbourhood(n.exp.TopologyOf(), island.NewRoster(n.exp.PeerTTL()), neighbourhoodRefresh)
	if x.adm, err = island.NewAdmission(x.self.String(), n.exp.AdmissionPolicy(n.data.Val.N), nb); err != nil {
		sw.Close()
		return nil, err
	}
	x.residents = x.pop.residents
	x.spent = func(flops float64) {
		if err := n.store.Update(func(tx *store.Tx) error { return tx.AddCounter(store.CounterFLOPs, int64(flops)) }); err != nil {
			x.log.Warn("counting a re-measure's FLOPs", "err", err)
		}
	}
	return x, nil
}

// neighbourhoodRefresh is how often, at most, a node recomputes its
// neighbourhood while it is still discovering peers.
const neighbourhoodRefresh = 10 * time.Second
