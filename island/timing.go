package island

import (
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Phase is one part of producing an individual, in the order a worker runs
// them. The phases of one task are contiguous: every moment of a worker's
// task belongs to exactly one phase, so they add up to its wall time.
type Phase int

const (
	// PhaseSelect reads the live population and runs the tournament:
	// drawing two individuals, reserving the parent and killing the loser
	// in the store, and decoding the parent's genome.
	PhaseSelect Phase = iota
	// PhaseMutate copies and mutates the parent's genome.
	PhaseMutate
	// PhaseBuild is the trainer's work before the first step: decoding
	// the parent's weights, laying out the model, inheriting, building the
	// network.
	PhaseBuild
	// PhaseTrain is the training steps.
	PhaseTrain
	// PhaseEvaluate is the evaluation on the validation split.
	PhaseEvaluate
	// PhaseStore records the individual: marking it in training, copying
	// out and encoding its weights, inserting it, and its log line.
	PhaseStore
	// PhaseEmigrate publishes a migrant when one is due after this task
	// (every EmigrateEvery children or EmigrateInterval); zero otherwise.
	PhaseEmigrate
	// NumPhases is the number of phases.
	NumPhases
)

var phaseNames = [NumPhases]string{"select", "mutate", "build", "train", "evaluate", "store", "emigrate"}

// String returns the phase's name as the metrics and the API spell it.
func (p Phase) String() string {
	if p < 0 || p >= NumPhases {
		return "unknown"
	}
	return phaseNames[p]
}

// Timing is where the wall time of one worker task went: one individual
// trained, from reading the population to the emigration it triggered.
type Timing struct {
	// Child is set for a tournament's child, trained and inserted; it is
	// false for an initial individual and for a genome that failed to
	// train.
	Child bool
	// ID is the child's, when Child is set.
	ID dna.ID
	// Phases are the durations of the phases, indexed by Phase. They add
	// up to Total exactly.
	Phases [NumPhases]time.Duration
	Total  time.Duration
	// Training is the Trainer's call: build, train, evaluate, and copying
	// out and encoding the weights.
	Training time.Duration
	// FLOPs is what training and evaluating the individual cost (the
	// Outcome's TrainFLOPs+EvalFLOPs); 0 when the training failed. The
	// admission budget is earned with it.
	FLOPs int64

	start, mark time.Time
	trained     bool // the Trainer returned: there is something to report
}

// begin starts the clock.
func (t *Timing) begin() {
	t.start = time.Now()
	t.mark = t.start
}

// lap ends phase p now: the time since the last lap is p's.
func (t *Timing) lap(p Phase) {
	now := time.Now()
	t.Phases[p] += now.Sub(t.mark)
	t.mark = now
}

// trainerLap ends the Trainer's call: its time is split into the phases
// the trainer measured (out may be nil), the rest (copying out and
// encoding the weights) going to PhaseStore. A trainer that measured
// nothing gets all of it counted as training.
func (t *Timing) trainerLap(out *Outcome) {
	now := time.Now()
	took := now.Sub(t.mark)
	t.mark = now
	t.Training, t.trained = took, true
	var build, train, eval time.Duration
	if out != nil {
		build, train, eval = max(out.BuildTime, 0), max(out.TrainTime, 0), max(out.EvalTime, 0)
	}
	if build+train+eval == 0 {
		train = took
	}
	// The trainer's durations come from inside the call, so they fit in
	// it; rounding (seconds as floats) may leave them a nanosecond over.
	rest := took - build - train - eval
	for _, d := range []*time.Duration{&train, &eval, &build} {
		if rest >= 0 {
			break
		}
		cut := min(*d, -rest)
		*d -= cut
		rest += cut
	}
	t.Phases[PhaseBuild] += build
	t.Phases[PhaseTrain] += train
	t.Phases[PhaseEvaluate] += eval
	t.Phases[PhaseStore] += rest
}

// end stops the clock; the phases then add up to Total.
func (t *Timing) end() {
	t.Total = t.mark.Sub(t.start)
}
