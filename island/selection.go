package island

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Member is what selection needs to know of one live individual.
type Member struct {
	ID      dna.ID
	Fitness float64 // validation accuracy
	Born    uint64  // birth sequence number: lower is older
}

// Mode chooses who dies.
type Mode string

// Selection modes.
const (
	// Worst is the paper's rule: of the two sampled, the worse dies.
	Worst Mode = "worst"
	// Oldest is aging evolution (Real et al. 2019, "Regularized
	// Evolution"): the oldest individual in the population dies.
	Oldest Mode = "oldest"
)

// Validate checks the mode's name.
func (m Mode) Validate() error {
	if m != Worst && m != Oldest {
		return fmt.Errorf("island: selection mode %q: want %q or %q", m, Worst, Oldest)
	}
	return nil
}

// Decision is the outcome of one tournament.
type Decision struct {
	// Pair is the two individuals sampled.
	Pair [2]Member
	// Parent is the better of the pair: it reproduces.
	Parent Member
	// Victim dies when the population is at or above its set-point; it is
	// nil below it.
	Victim *Member
}

// ErrTooSmall is returned when the population has fewer than two members;
// the island then seeds it.
var ErrTooSmall = errors.New("island: a tournament needs at least two live individuals")

// Select runs one pairwise tournament. Two distinct members are sampled
// uniformly. The better (higher fitness; on a tie the younger) is the parent.
// If the population is at or above setPoint, a victim dies: the worse of the
// two in Worst mode, the oldest of the population in Oldest mode. Select
// depends only on its arguments, so a seeded rng replays it exactly.
func Select(pop []Member, setPoint int, mode Mode, rng *rand.Rand) (Decision, error) {
	if len(pop) < 2 {
		return Decision{}, ErrTooSmall
	}
	i := rng.IntN(len(pop))
	j := rng.IntN(len(pop) - 1)
	if j >= i {
		j++
	}
	a, b := pop[i], pop[j]
	better, worse := a, b
	if beats(b, a) {
		better, worse = b, a
	}
	d := Decision{Pair: [2]Member{a, b}, Parent: better}
	if len(pop) < setPoint {
		return d, nil
	}
	switch mode {
	case Oldest:
		oldest := pop[0]
		for _, m := range pop[1:] {
			if m.Born < oldest.Born {
				oldest = m
			}
		}
		d.Victim = &oldest
	default:
		d.Victim = &worse
	}
	return d, nil
}

// beats reports whether a wins a tournament against b: higher fitness, and
// on a tie the younger (the later-born has seen the same evidence with more
// training behind it).
func beats(a, b Member) bool {
	if a.Fitness != b.Fitness {
		return a.Fitness > b.Fitness
	}
	return a.Born > b.Born
}
