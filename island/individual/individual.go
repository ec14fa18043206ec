// Package individual is evoswarm's one model of an individual: the record
// the island hands its population, the store keeps, and node's API views
// (node.Summary, node.Ancestor, node.Best, node.GenomeView, the exported
// model's metrics) are built from. It imports only island/dna, so that
// island and store can both use it without importing each other.
//
// The store keeps an Individual in its own versioned encoding (store's
// record); the JSON views are adapted from it in node, once each. Nothing
// here knows of either.
package individual

import (
	"fmt"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Status is where an individual is in its life. The zero Status is unset:
// a record the store wrote always has one of the three.
type Status uint8

// Statuses.
const (
	// Training: recorded when its training started; status counts it in
	// the population, but it cannot be picked and the set-point does not
	// count it.
	Training Status = iota + 1
	// Alive: trained, evaluated, a member of the population.
	Alive
	// Dead: killed, failed or abandoned; the record stays, the weights
	// are gone.
	Dead
)

var statusNames = [...]string{Training: "training", Alive: "alive", Dead: "dead"}

// Valid reports whether s is one of Training, Alive and Dead.
func (s Status) Valid() bool { return s >= Training && s <= Dead }

// String returns "training", "alive" or "dead", or "status(N)" for
// anything else (the zero Status included).
func (s Status) String() string {
	if s.Valid() {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ParseStatus returns the Status named s ("training", "alive", "dead").
func ParseStatus(s string) (Status, error) {
	for st := Training; st <= Dead; st++ {
		if statusNames[st] == s {
			return st, nil
		}
	}
	return 0, fmt.Errorf("individual: unknown status %q", s)
}

// MarshalText writes the status's name, as JSON shows it: "training",
// "alive", "dead" ("" for the zero Status).
func (s Status) MarshalText() ([]byte, error) {
	switch {
	case s == 0:
		return []byte{}, nil
	case !s.Valid():
		return nil, fmt.Errorf("individual: cannot encode %v", s)
	}
	return []byte(statusNames[s]), nil
}

// UnmarshalText reads a status's name; "" is the zero Status.
func (s *Status) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = 0
		return nil
	}
	st, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = st
	return nil
}

// Individual is the record of one individual. It never holds weights,
// which travel and are stored apart.
type Individual struct {
	ID     dna.ID
	Genome []byte // the genome's binary encoding (dna.Genome.MarshalBinary)

	Fitness      float64 // validation accuracy; 0 for a diverged child
	TestAccuracy float64 // meaningful only when HasTest
	HasTest      bool

	Status   Status    // set by the store: training, alive, dead
	Born     time.Time // when its training ended (or it was received, for an immigrant); for a record in training, when training began
	Died     time.Time // zero unless dead
	BirthSeq uint64    // per-store, from 1, set when it is born: lower is older

	Parent    dna.ID // zero for an initial individual
	Mutation  string // the mutation that made it: dna.Kind.String(); "" for an initial individual
	Origin    string // peer ID of the node that trained it
	Immigrant bool   // received from another node
	// ClaimedFitness is the fitness an immigrant's sender claimed; Fitness
	// is what this node measured. Zero for local individuals.
	ClaimedFitness float64

	Params     int64 // trainable parameters
	TrainFLOPs int64 // FLOPs spent training it here (zero for an immigrant)
	EvalFLOPs  int64 // FLOPs spent evaluating it here (zero for an immigrant)
	// TrainSeconds is the wall time its training took here: building,
	// training, evaluating, encoding the weights (zero for an immigrant,
	// and in records from before it was kept).
	TrainSeconds float64
	Steps        int64 // training steps
	// InheritedParams, SlicedParams and NewParams count its values
	// (parameters and batch norm's running statistics) by where they came
	// from: copied whole from its parent's weights, copied in part into a
	// reshaped tensor (partial inheritance), initialised afresh. All zero
	// where not recorded: an immigrant, a record from before they were.
	InheritedParams, SlicedParams, NewParams int64

	Error       string // why it has fitness 0 (e.g. "loss diverged (NaN) at step 113") or why it failed
	DeathReason string // why it died, set when it is killed, fails or is abandoned
}

// New returns the individual of genome g before it is trained or
// admitted: its ID, encoded genome, parent, mutation and parameters, with
// origin and birth time given. The rest is the outcome's to fill.
func New(g *dna.Genome, origin string, born time.Time) (*Individual, error) {
	gb, err := g.MarshalBinary()
	if err != nil {
		return nil, err
	}
	mut := ""
	if !g.Parent.IsZero() {
		mut = g.Mutation.String()
	}
	return &Individual{ID: g.ID(), Genome: gb, Parent: g.Parent, Mutation: mut, Origin: origin,
		Params: g.Params(), Born: born}, nil
}

// DecodeGenome decodes the individual's genome.
func (ind *Individual) DecodeGenome() (*dna.Genome, error) { return dna.DecodeBinary(ind.Genome) }
