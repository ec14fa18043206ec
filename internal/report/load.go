package report

import (
	"fmt"
	"time"

	"github.com/evoswarm/evoswarm/node"
)

// Load reads the individuals of the repo in dir, whose daemon must be
// stopped, into a Series named after the node's peer ID. Individuals still
// in training have no fitness yet and are left out.
func Load(dir string) (Series, error) {
	_, id, err := node.LoadIdentity(dir)
	if err != nil {
		return Series{}, err
	}
	st, err := node.OpenStopped(dir)
	if err != nil {
		return Series{}, err
	}
	defer st.Close()
	list, err := node.Individuals(st)
	if err != nil {
		return Series{}, fmt.Errorf("report: reading %s: %w", dir, err)
	}
	s := Series{Name: ShortPeerID(id.String())}
	for _, ind := range list {
		if ind.Status == "training" {
			continue
		}
		born, err := time.Parse(time.RFC3339Nano, ind.Born)
		if err != nil {
			return Series{}, fmt.Errorf("report: %s: individual %s: birth time %q: %w", dir, ind.ID, ind.Born, err)
		}
		s.Dots = append(s.Dots, Dot{Born: born, Fitness: ind.Fitness, Alive: ind.Status == "alive", Immigrant: ind.Immigrant})
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
