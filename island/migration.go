package island

import (
	"context"
	"sync"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Migrant is an individual travelling between islands: its genome, its
// fitness, and its weights. Leaving an island, Fitness is what its origin
// measured. Arriving over a network, the exchange re-measures it on the
// local validation split: Fitness is then the local measure and Claimed
// what the sender claimed; a claim is never trusted.
type Migrant struct {
	Genome  *dna.Genome
	Fitness float64
	Claimed float64
	Weights []byte
	Origin  string
}

// Exchange connects an island to the others. The swarm implements it over
// libp2p pubsub; LocalExchange implements it in memory. Send must not block
// for long; Receive's channel is read by one goroutine.
type Exchange interface {
	Send(ctx context.Context, m Migrant) error
	Receive() <-chan Migrant
}

// LocalHub connects islands in one process: what one sends, every other
// receives. It is for tests and for single-machine experiments without
// networking.
type LocalHub struct {
	mu    sync.Mutex
	ports []*LocalExchange
}

// LocalExchange is one island's port on a LocalHub.
type LocalExchange struct {
	hub *LocalHub
	in  chan Migrant
}

// Join returns a new port on the hub. Its buffer holds 64 migrants; when
// full, further migrants to it are dropped, as a network would.
func (h *LocalHub) Join() *LocalExchange {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := &LocalExchange{hub: h, in: make(chan Migrant, 64)}
	h.ports = append(h.ports, p)
	return p
}

// Send delivers m to every other port.
func (p *LocalExchange) Send(_ context.Context, m Migrant) error {
	p.hub.mu.Lock()
	defer p.hub.mu.Unlock()
	for _, q := range p.hub.ports {
		if q == p {
			continue
		}
		select {
		case q.in <- m:
		default:
		}
	}
	return nil
}

// Receive returns the port's incoming migrants.
func (p *LocalExchange) Receive() <-chan Migrant { return p.in }
