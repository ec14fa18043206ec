package sim

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
)

// pop is a virtual node's population in memory: the island.Population the
// real island runs over. One goroutine drives all nodes, so it takes no
// locks. Of the dead only their IDs are kept: a node's store refuses an
// individual it recorded before, and so does this.
type pop struct {
	alive  []*member           // sorted by ID, as a store lists them
	held   map[uint64]struct{} // every individual ever here, by its ID's first 8 bytes
	births uint64
	at     func() float64 // the virtual time at which an individual inserted now exists
}

type member struct {
	id      dna.ID
	genome  *dna.Genome
	weights []byte // the landscape's state: training and lineage
	fitness float64
	born    uint64
	origin  string  // the node that trained it
	exists  float64 // virtual seconds: when its training (or re-measure) ends
}

func (p *pop) find(id dna.ID) int {
	i, ok := slices.BinarySearchFunc(p.alive, id, func(m *member, id dna.ID) int { return slices.Compare(m.id[:], id[:]) })
	if !ok {
		return -1
	}
	return i
}

func (p *pop) Alive() ([]island.Member, error) {
	out := make([]island.Member, len(p.alive))
	for i, m := range p.alive {
		out[i] = island.Member{ID: m.id, Fitness: m.fitness, Born: m.born}
	}
	return out, nil
}

func (p *pop) Tournament(parent dna.ID, victim *dna.ID, _ time.Time) (island.Reserved, error) {
	i := p.find(parent)
	if i < 0 || victim != nil && p.find(*victim) < 0 {
		return island.Reserved{}, island.ErrConflict
	}
	r := island.Reserved{Genome: p.alive[i].genome, Weights: p.alive[i].weights, Origin: p.alive[i].origin}
	if victim != nil {
		p.remove(*victim)
	}
	return r, nil
}

func (p *pop) remove(id dna.ID) {
	if i := p.find(id); i >= 0 {
		p.alive = slices.Delete(p.alive, i, i+1)
	}
}

func (p *pop) Begin(*individual.Individual) error { return nil }

func (p *pop) Insert(ind *individual.Individual, weights []byte) error {
	id := ind.ID
	if p.find(id) >= 0 {
		return island.ErrConflict // the same individual twice (an immigrant already here)
	}
	g, err := ind.DecodeGenome()
	if err != nil {
		return err
	}
	p.births++
	if p.held == nil {
		p.held = map[uint64]struct{}{}
	}
	p.held[key(id)] = struct{}{}
	m := &member{id: id, genome: g, weights: weights, fitness: ind.Fitness, born: p.births, origin: ind.Origin}
	if p.at != nil {
		m.exists = p.at()
	}
	i, _ := slices.BinarySearchFunc(p.alive, id, func(m *member, id dna.ID) int { return slices.Compare(m.id[:], id[:]) })
	p.alive = slices.Insert(p.alive, i, m)
	return nil
}

func (p *pop) Fail(*individual.Individual, string) error { return nil }
func (p *pop) Abandoned() error                          { return nil }

// recorded reports whether id was ever here, alive or dead.
func (p *pop) recorded(id dna.ID) bool {
	_, ok := p.held[key(id)]
	return ok
}

func key(id dna.ID) uint64 { return binary.LittleEndian.Uint64(id[:8]) }

func (p *pop) Immigrate(ind *individual.Individual, weights []byte, victim *dna.ID, _ string, _ time.Time) error {
	if p.recorded(ind.ID) || (victim != nil && p.find(*victim) < 0) {
		return island.ErrConflict
	}
	if victim != nil {
		p.remove(*victim)
	}
	return p.Insert(ind, weights)
}

func (p *pop) Emigrated(dna.ID, string) error { return nil }

func (p *pop) Weights(id dna.ID) ([]byte, error) {
	if i := p.find(id); i >= 0 {
		return p.alive[i].weights, nil
	}
	return nil, island.ErrConflict
}

func (p *pop) Births() (uint64, error) { return p.births, nil }

// aliveAt is the population that exists at virtual time t (the node's own
// tournaments never see an individual early: it is busy until then).
func (p *pop) aliveAt(t float64) []*member {
	out := make([]*member, 0, len(p.alive))
	for _, m := range p.alive {
		if m.exists <= t {
			out = append(out, m)
		}
	}
	return out
}

// residents is the population as the admission policy sees it.
func (p *pop) residents() ([]island.Resident, error) {
	out := make([]island.Resident, len(p.alive))
	for i, m := range p.alive {
		out[i] = island.Resident{ID: m.id, Fitness: m.fitness, Genome: m.genome}
	}
	return out, nil
}
