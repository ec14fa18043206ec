package island

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
)

// memPop is an in-memory Population for the island's logic tests. The real
// one, over Badger, is tested in store and node.
type memPop struct {
	mu        sync.Mutex
	alive     map[dna.ID]*memInd
	training  map[dna.ID]bool
	dead      map[dna.ID]bool
	births    uint64
	inserted  []dna.ID
	abandoned int
	failed    int
	emigrated int
	conflictN int // fail this many Tournament calls with a conflict
}

type memInd struct {
	ind     individual.Individual
	genome  *dna.Genome // ind's, decoded
	weights []byte
	born    uint64
}

func newMemPop() *memPop {
	return &memPop{alive: map[dna.ID]*memInd{}, training: map[dna.ID]bool{}, dead: map[dna.ID]bool{}}
}

func (p *memPop) Alive() ([]Member, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ms []Member
	for id, m := range p.alive {
		ms = append(ms, Member{ID: id, Fitness: m.ind.Fitness, Born: m.born})
	}
	slices.SortFunc(ms, func(a, b Member) int { return slices.Compare(a.ID[:], b.ID[:]) })
	return ms, nil
}

func (p *memPop) Tournament(parent dna.ID, victim *dna.ID, _ time.Time) (Reserved, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conflictN > 0 {
		p.conflictN--
		return Reserved{}, fmt.Errorf("simulated: %w", ErrConflict)
	}
	par, ok := p.alive[parent]
	if !ok || (victim != nil && p.alive[*victim] == nil) {
		return Reserved{}, ErrConflict
	}
	if victim != nil {
		delete(p.alive, *victim)
		p.dead[*victim] = true
	}
	return Reserved{Genome: par.genome, Weights: par.weights, Origin: par.ind.Origin}, nil
}

func (p *memPop) Begin(ind *individual.Individual) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.training[ind.ID] = true
	return nil
}

func (p *memPop) Insert(ind *individual.Individual, w []byte) error {
	g, err := ind.DecodeGenome()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	id := ind.ID
	if p.alive[id] != nil || p.dead[id] {
		return fmt.Errorf("%s exists", id.Short())
	}
	delete(p.training, id)
	p.births++
	p.alive[id] = &memInd{ind: *ind, genome: g, weights: w, born: p.births}
	p.inserted = append(p.inserted, id)
	return nil
}

func (p *memPop) Fail(ind *individual.Individual, _ string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.training, ind.ID)
	p.failed++
	return nil
}

func (p *memPop) Abandoned() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.abandoned++
	return nil
}

func (p *memPop) Immigrate(ind *individual.Individual, w []byte, victim *dna.ID, reason string, at time.Time) error {
	p.mu.Lock()
	known := p.alive[ind.ID] != nil || p.dead[ind.ID] || p.training[ind.ID]
	p.mu.Unlock()
	if known {
		return fmt.Errorf("%s is recorded: %w", ind.ID.Short(), ErrConflict)
	}
	if victim != nil {
		if err := p.kill(*victim, reason, at); err != nil {
			return err
		}
	}
	return p.Insert(ind, w)
}

func (p *memPop) kill(id dna.ID, _ string, _ time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.alive[id] == nil {
		return ErrConflict
	}
	delete(p.alive, id)
	p.dead[id] = true
	return nil
}

func (p *memPop) Emigrated(dna.ID, string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.emigrated++
	return nil
}

func (p *memPop) Weights(id dna.ID) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m := p.alive[id]; m != nil {
		return m.weights, nil
	}
	return nil, ErrConflict
}

func (p *memPop) Births() (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.births, nil
}

// fakeTrainer scores a genome by its architecture: more convolutions and
// channels score higher, up to 0.95, so that selection has a gradient to
// climb. bonus is added for every genome it trains (to tell islands apart).
type fakeTrainer struct {
	bonus float64
	delay time.Duration
}

func (f fakeTrainer) Train(ctx context.Context, g *dna.Genome, _ []byte, seed uint64) (*Outcome, error) {
	if f.delay > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(f.delay):
		}
	}
	score := 0.1 + f.bonus
	for _, e := range g.Edges {
		if e.Type == dna.Conv {
			score += 0.05 + 0.001*float64(min(e.Channels, 50))
		}
	}
	score += float64(seed%1000) / 1e6 // noise, deterministic per seed
	return &Outcome{Fitness: min(score, 0.95), Weights: []byte{1, 2, 3}, Steps: 1, TrainFLOPs: 10, EvalFLOPs: 1}, nil
}
