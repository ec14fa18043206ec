package report

import (
	"fmt"
	"time"

	"github.com/evoswarm/evoswarm/island/individual"
)

// Record is one individual of a node's records, as a figure reads it: the
// fields of a node's summary of an individual that Figure1 needs, with the
// JSON names of a daemon's GET /api/v1/individuals. Whoever read the
// records (a stopped repo, a daemon's API) fills it: report reads no repo.
type Record struct {
	ID        string            `json:"id"`
	Status    individual.Status `json:"status"` // "training", "alive" or "dead"
	Fitness   float64           `json:"val_accuracy"`
	Immigrant bool              `json:"immigrant"`
	Born      string            `json:"born"` // RFC 3339
	// Parent and Mutation say how a child was made ("" for an initial
	// individual); Mutations reads them.
	Parent   string `json:"parent,omitempty"`
	Mutation string `json:"mutation,omitempty"`
}

// NewSeries is the series of the node with peer ID peerID, named by its
// short form, from its records. Individuals still in training have no
// fitness yet and are left out.
func NewSeries(peerID string, recs []Record) (Series, error) {
	s := Series{Name: ShortPeerID(peerID)}
	for _, r := range recs {
		if r.Status == individual.Training {
			continue
		}
		born, err := time.Parse(time.RFC3339Nano, r.Born)
		if err != nil {
			return Series{}, fmt.Errorf("report: individual %s: birth time %q: %w", r.ID, r.Born, err)
		}
		s.Dots = append(s.Dots, Dot{Born: born, Fitness: r.Fitness, Alive: r.Status == individual.Alive, Immigrant: r.Immigrant})
	}
	return s, nil
}

// ShortPeerID abbreviates a peer ID for a legend: its first 8 and last 6
// characters ("12D3KooW…a1b2c3"); every libp2p Ed25519 ID starts alike.
func ShortPeerID(s string) string {
	if len(s) > 16 {
		return s[:8] + "…" + s[len(s)-6:]
	}
	return s
}
