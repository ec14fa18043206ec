package island

import (
	"context"
	"errors"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
)

// ErrConflict is wrapped by Population errors that mean another worker
// changed the individuals a task depended on; the task is abandoned, as the
// paper's workers did.
var ErrConflict = errors.New("island: another worker interfered")

// ErrRefused is wrapped by a Population's error for an individual it will
// not store as given (say, weights that fail their checksum): that
// individual is dropped, and the island goes on.
var ErrRefused = errors.New("island: the population refused the individual")

// Population is the island's durable sub-population. All methods must be
// safe for concurrent use by the workers.
type Population interface {
	// Alive lists the live individuals in a deterministic order.
	Alive() ([]Member, error)
	// Tournament, in one transaction, kills victim (if not nil) and reads
	// the parent's genome, weights and origin. If either is no longer
	// alive it fails with an error wrapping ErrConflict and changes
	// nothing.
	Tournament(parent dna.ID, victim *dna.ID, at time.Time) (Reserved, error)
	// Begin records ind as in training, so that a crash leaves a trace.
	// ind is the one model of an individual (individual.Individual), as
	// the island fills it: ID, genome, parent, mutation, origin, birth
	// time and parameters; Insert's also has the outcome of training.
	Begin(ind *individual.Individual) error
	// Insert records ind alive with its weights, completing Begin.
	Insert(ind *individual.Individual, weights []byte) error
	// Fail records that ind could not be trained, and why.
	Fail(ind *individual.Individual, reason string) error
	// Abandoned counts a task given up after a conflict.
	Abandoned() error
	// Immigrate, in one transaction, kills victim (if not nil) for reason
	// and records ind, an immigrant with its measured fitness, alive with
	// its weights. If ind is already recorded here (alive, dead or in
	// training) or victim is no longer alive, it fails with an error
	// wrapping ErrConflict and changes nothing.
	Immigrate(ind *individual.Individual, weights []byte, victim *dna.ID, reason string, at time.Time) error
	// Emigrated records that id was sent to other islands.
	Emigrated(id dna.ID, to string) error
	// Weights returns an alive individual's weights.
	Weights(id dna.ID) ([]byte, error)
	// Births returns how many individuals were ever born here.
	Births() (uint64, error)
}

// Reserved is a tournament's parent as Tournament read it.
type Reserved struct {
	Genome  *dna.Genome
	Weights []byte
	// Origin is the peer ID of the node that trained it: this node's, or
	// a neighbour's for an immigrant (emigrating it again relays it).
	Origin string
}

// Inherited counts the values (parameters and batch norm's running
// statistics) of a child's weights by where they came from: copied whole
// from a parent's tensor of the same shape, copied into a tensor whose
// shape changed (partial inheritance: the overlap), or initialised afresh.
type Inherited struct {
	Whole, Sliced, New int64
}

// Outcome is what training one genome produced.
type Outcome struct {
	Fitness               float64
	Weights               []byte
	Steps                 int64
	Params                int64
	TrainFLOPs, EvalFLOPs int64
	// Inherited is what the genome took from its parent's weights; zero
	// if the trainer does not say.
	Inherited Inherited
	// Diverged is set, with Reason, when the loss became NaN or infinite:
	// the child lives with fitness 0.
	Diverged bool
	Reason   string
	// BuildTime, TrainTime and EvalTime are how long the trainer took
	// before the first step (decoding the parent's weights, building the
	// network), for the steps, and for the evaluation; zero if it does not
	// say. The rest of its call (copying out and encoding the weights)
	// counts as storing.
	BuildTime, TrainTime, EvalTime time.Duration
}

// Trainer trains and evaluates genomes. Train must be safe for concurrent
// use; it returns ctx's error promptly when ctx is cancelled. An error
// other than cancellation means the genome could not be trained (over the
// memory budget, say); the island records it and goes on.
type Trainer interface {
	Train(ctx context.Context, g *dna.Genome, parentWeights []byte, seed uint64) (*Outcome, error)
}
