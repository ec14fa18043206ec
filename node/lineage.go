package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/gossip"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
)

// Lineage across islands. An individual's ancestry runs through the nodes
// its ancestors migrated through. Each node keeps, with every immigrant,
// the chain its sender gave at admission (gossip.LineageProtocol, stored
// under the store's l/ prefix), and answers a chain from its own records:
// its local steps walked through parent IDs and, at an immigrant, the
// chain that immigrant came with. Chains so compose across any number of
// hops, and Lineage shows the whole of one with the node of each step.

// chainStep is a step of a lineage as the walk finds it.
type chainStep struct {
	gossip.LineageStep
	status StepStatus        // its record's status (stepStatusOf), StepRemote or StepUnknown
	rec    *store.Individual // this node's record; nil for the others
}

// errNotHere: the individual asked for has no record here.
var errNotHere = errors.New("not in this repo")

// walkLineage returns the lineage of id, newest first, at most limit steps
// (markers aside): this store's records through parent IDs and, at an
// immigrant, the chain stored with it. self is this node's peer ID, used
// for an immigrant without a stored chain (""/unknown otherwise).
func walkLineage(tx *store.Tx, id dna.ID, self peer.ID, limit int) ([]chainStep, error) {
	var out []chainStep
	marker := func(id dna.ID) {
		if !id.IsZero() {
			out = append(out, chainStep{LineageStep: gossip.LineageStep{ID: id}, status: StepUnknown})
		}
	}
	seen := map[dna.ID]bool{}
	for cur := id; !cur.IsZero(); {
		if len(out) >= limit {
			marker(cur)
			break
		}
		if seen[cur] { // a cycle cannot be made by breeding; do not follow one
			break
		}
		seen[cur] = true
		rec, err := tx.Get(cur)
		if errors.Is(err, store.ErrNotFound) {
			if len(out) == 0 {
				return nil, fmt.Errorf("%w: individual %s", errNotHere, cur.Short())
			}
			marker(cur)
			break
		}
		if err != nil {
			return nil, err
		}
		st := chainStep{LineageStep: gossip.LineageStep{
			ID: cur, Parent: rec.Parent, Mutation: rec.Mutation, Fitness: rec.Fitness, Born: rec.Born,
			Node: self, Immigrant: rec.Immigrant,
		}, status: stepStatusOf(rec.Status), rec: rec}
		if !rec.Immigrant {
			st.Node = bornOn(rec, self)
			out = append(out, st)
			cur = rec.Parent
			continue
		}
		l, err := tx.Lineage(cur)
		switch {
		case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCorrupt):
			// An immigrant from before chains were kept, or a damaged
			// record (verify reports it): the ancestry beyond is unknown.
			out = append(out, st)
			marker(rec.Parent)
			return out, nil
		case err != nil:
			return nil, err
		}
		if l.Receiver != "" {
			st.Node = peer.ID(l.Receiver)
		}
		out = append(out, st)
		if len(l.Steps) == 0 {
			marker(rec.Parent)
			return out, nil
		}
		for i := len(l.Steps) - 1; i >= 0; i-- {
			if len(out) >= limit {
				marker(l.Steps[i].ID)
				return out, nil
			}
			s := l.Steps[i]
			out = append(out, chainStep{LineageStep: gossip.LineageStep{
				ID: s.ID, Parent: s.Parent, Mutation: s.Mutation, Fitness: s.Fitness, Born: s.Born,
				Node: peer.ID(s.Node), Immigrant: s.Immigrant,
			}, status: StepRemote})
		}
		if !l.Join.IsZero() { // the chain was cut where it reached a record here
			cur = l.Join
			continue
		}
		marker(l.Steps[0].Parent)
		return out, nil
	}
	return out, nil
}

// lineageSource serves this node's chains on gossip.LineageProtocol.
type lineageSource struct {
	s    *store.Store
	self peer.ID
}

// Lineage returns the chain of id, oldest first, at most limit steps, the
// newest; markers are left out (a first step whose parent is not zero
// says the ancestry beyond it is unknown).
func (l lineageSource) Lineage(id dna.ID, limit int) ([]gossip.LineageStep, error) {
	var steps []chainStep
	err := l.s.View(func(tx *store.Tx) error {
		var err error
		steps, err = walkLineage(tx, id, l.self, limit)
		return err
	})
	if errors.Is(err, errNotHere) {
		return nil, fmt.Errorf("%w: %w", gossip.ErrLineageNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]gossip.LineageStep, 0, len(steps))
	for i := len(steps) - 1; i >= 0; i-- {
		if st := steps[i]; st.status != StepUnknown {
			st.Fitness = clamp01(st.Fitness)
			out = append(out, st.LineageStep)
		}
	}
	return out, nil
}

// clamp01 keeps a fitness within the wire's bounds (a diverged child's is
// 0; nothing here should be outside, but the answer must encode).
func clamp01(f float64) float64 {
	if math.IsNaN(f) || f < 0 {
		return 0
	}
	return min(f, 1)
}

// serveLineage drops the chains of migrants that never became individuals
// (no admission is in flight before the swarm runs), and starts answering
// lineage requests from the store.
func serveLineage(sw *gossip.Swarm, s *store.Store, log *slog.Logger) {
	if n, err := s.PruneLineage(time.Time{}); err != nil {
		log.Warn("pruning the chains of migrants that did not stay", "err", err)
	} else if n > 0 {
		log.Debug("pruned the chains of migrants that did not stay", "chains", n)
	}
	sw.ServeLineage(lineageSource{s: s, self: sw.ID()})
}

// keepLineage asks the sender of an admitted migrant for its chain and
// stores it with the immigrant-to-be, best effort: a sender that does not
// answer, or answers a chain that does not end with this migrant as it
// announced it, leaves the chain unknown (recorded, with why) and the
// migrant admitted.
func (x *exchange) keepLineage(ctx context.Context, r gossip.Received) {
	if x.pop.s == nil {
		return
	}
	l := &store.Lineage{From: string(r.From), Receiver: string(x.self), At: time.Now()}
	steps, err := x.sw.FetchLineage(ctx, r.From, r.ID)
	if err == nil {
		err = checkMigrantChain(r, steps)
	}
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		l.Error = err.Error()
		steps = nil // a chain that does not end with the migrant is not served on
		x.log.Info("the ancestry of an immigrant is unknown: its sender did not give it", "id", r.ID.Short(), "from", r.From, "err", err)
	}
	for _, s := range steps {
		l.Steps = append(l.Steps, store.LineageStep{ID: s.ID, Parent: s.Parent, Mutation: s.Mutation, Fitness: s.Fitness,
			Born: s.Born, Node: string(s.Node), Immigrant: s.Immigrant})
	}
	if err := x.pop.s.Update(func(tx *store.Tx) error {
		joinLineage(tx, x.self, l)
		return tx.PutLineage(r.ID, l)
	}); err != nil {
		x.log.Warn("could not store the ancestry of an immigrant", "id", r.ID.Short(), "err", err)
	}
}

// joinLineage cuts l's steps where they reach an individual born on this
// node (self), so that the part of the chain this store already tells is
// not stored again; the walk goes on with that individual's record. The
// newest such individual before the immigrant is taken, and the cut goes
// before its oldest appearance on the chain, so that every migration it
// made is kept: its step on this node goes (the record here tells it), a
// step on another node stays. The record here and the first step kept
// must hold together as the walk serves them (gossip.CheckChain): a chain
// whose steps do not (a sender's claim about an individual of ours that
// our record contradicts) is stored whole. Individuals that came here as
// immigrants are not joined at: their record here is a copy beside the
// chain's, not before it.
func joinLineage(tx *store.Tx, self peer.ID, l *store.Lineage) {
	for j := len(l.Steps) - 2; j >= 0; j-- {
		rec, err := tx.Get(l.Steps[j].ID)
		if err != nil || rec.Immigrant {
			continue
		}
		here := gossip.LineageStep{ID: rec.ID, Parent: rec.Parent, Node: bornOn(rec, self)}
		i := j
		for i > 0 && l.Steps[i-1].ID == rec.ID {
			i--
		}
		if l.Steps[i].Node == string(here.Node) {
			i++
		}
		next := l.Steps[i] // i <= j+1: the immigrant at the latest
		pair := []gossip.LineageStep{here, {ID: next.ID, Parent: next.Parent, Node: peer.ID(next.Node), Immigrant: next.Immigrant}}
		if gossip.CheckChain(next.ID, pair) != nil {
			return
		}
		l.Steps, l.Join = l.Steps[i:], rec.ID
		return
	}
}

// bornOn is the node an individual born here lived on, as its record
// names it (the node's peer ID when it was born; self if unreadable).
func bornOn(rec *store.Individual, self peer.ID) peer.ID {
	if p, err := peer.Decode(rec.Origin); err == nil {
		return p
	}
	return self
}

// checkMigrantChain checks that a chain (already checked to hold
// together) ends with the migrant as announced: its parent and mutation,
// on the sender.
func checkMigrantChain(r gossip.Received, steps []gossip.LineageStep) error {
	last := steps[len(steps)-1]
	mut := ""
	if !r.Genome.Parent.IsZero() {
		mut = r.Genome.Mutation.String()
	}
	switch {
	case last.Parent != r.Genome.Parent || last.Mutation != mut:
		return fmt.Errorf("%w: the chain's %s has parent %s by %q; its genome, %s by %q",
			gossip.ErrBadLineage, last.ID.Short(), last.Parent.Short(), last.Mutation, r.Genome.Parent.Short(), mut)
	case last.Node != r.From:
		return fmt.Errorf("%w: the chain's %s lived on %s, not on its sender %s", gossip.ErrBadLineage, last.ID.Short(), last.Node, r.From)
	}
	return nil
}
