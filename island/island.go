package island

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
)

// Config is one island's evolution settings.
type Config struct {
	// SetPoint is the population size the island holds: at or above it a
	// tournament's loser dies, below it only reproduction happens.
	SetPoint int
	// Workers is the number of asynchronous tournament workers.
	Workers int
	// Mode is Worst (the paper) or Oldest (aging evolution).
	Mode Mode
	// Mutation configures the mutations, including the genome bounds.
	Mutation dna.MutateOptions
	// Input, Classes and LearningRate define the initial individuals.
	Input        dna.Shape
	Classes      int
	LearningRate float64
	// Seed is the root seed; worker i of a fresh run draws from a
	// generator seeded with (Seed^Stream, i+1), so a run with one worker
	// replays exactly. A resumed run mixes in the births so far.
	Seed uint64
	// Stream tells this node's random streams from other nodes' with the
	// same experiment (and so the same Seed); the node derives it from its
	// identity.
	Stream uint64
	// Origin names this node in the records (its peer ID).
	Origin string
	// EmigrateEvery and EmigrateInterval: every EmigrateEvery children or
	// every EmigrateInterval, whichever comes first, the best individual
	// not yet sent emigrates. Zero disables that trigger.
	EmigrateEvery    int
	EmigrateInterval time.Duration
	// EmigrateMinGap is the shortest time between two emigrations; a
	// trigger sooner is skipped. Peers refuse, and penalise, a node that
	// announces faster than they validate (gossip's AnnounceRate), which a
	// node of small, fast networks would. Zero: no limit.
	EmigrateMinGap time.Duration
	// MaxChildren stops the island after that many children, for tests and
	// benchmarks; 0 runs until the context ends.
	MaxChildren int
	// Sent lists individuals emigrated by an earlier run; they are not sent
	// again (peers would take the copy for a replay).
	Sent []dna.ID
	// OnTrained, if set, is called after each individual a worker trained
	// (an initial one, a child, or a genome that failed to train; not a
	// training a stop interrupted) with where the task's time went, phase
	// by phase (for metrics); for a child, after the emigration it
	// triggered. It must be safe for concurrent use and not block.
	OnTrained func(Timing)
}

// Validate checks the settings; its errors name the field.
func (c *Config) Validate() error {
	switch {
	case c.SetPoint < 2:
		return fmt.Errorf("island: set-point %d must be at least 2", c.SetPoint)
	case c.Workers < 1:
		return fmt.Errorf("island: workers %d must be at least 1", c.Workers)
	case c.Classes < 2:
		return fmt.Errorf("island: classes %d must be at least 2", c.Classes)
	case c.EmigrateEvery < 0 || c.EmigrateInterval < 0 || c.EmigrateMinGap < 0:
		return errors.New("island: emigration settings must not be negative")
	}
	if err := c.Mode.Validate(); err != nil {
		return err
	}
	if err := c.Mutation.Validate(); err != nil {
		return err
	}
	if err := c.Mutation.Applies(dna.Initial(c.Input, c.Classes, c.LearningRate)); err != nil {
		return fmt.Errorf("island: no mutation could ever change the initial individual: %w", err)
	}
	return nil
}

// Island runs one node's evolution: workers that repeat the paper's
// tournament over a durable Population, training children with a Trainer,
// and an exchange of migrants with other islands.
type Island struct {
	cfg  Config
	pop  Population
	tr   Trainer
	ex   Exchange // may be nil
	log  *slog.Logger
	stat Stats

	seedMu  sync.Mutex
	seeding atomic.Int64 // initial individuals in training
	// breeding counts the tasks past their tournament: their children are
	// in training and their victims already dead, so they count towards
	// the population when claimSeed asks whether it fell below two.
	breeding atomic.Int64
	// Under seedMu: the births the population had when this island first
	// looked (read once), and the seeds claimed since, less those that
	// failed. Counting claims rather than re-reading births avoids counting
	// a seed twice (in births and in flight) between its insertion and the
	// end of its task, or not at all.
	births0, claimed int
	birthsKnown      bool
	children         atomic.Int64 // children started, for MaxChildren
	mu               sync.Mutex
	sent             map[dna.ID]bool
	sinceEmi         int
	lastEmigrated    time.Time // when emigrate last went ahead (its gap reserved)
	lastInterval     time.Time // when the time-based emigration last ran, for all workers
}

// Stats are the island's running totals since start.
type Stats struct {
	Children   atomic.Int64 // children trained and inserted
	Seeds      atomic.Int64 // initial individuals trained
	Abandoned  atomic.Int64 // tasks abandoned after a conflict
	Failed     atomic.Int64 // genomes that could not be trained
	Emigrants  atomic.Int64
	Immigrants atomic.Int64 // accepted
	Rejected   atomic.Int64 // immigrants that lost their tournament
	// ChildPhases sums the phases of the children timed so far (Timed
	// of them), in nanoseconds, indexed by Phase.
	ChildPhases [NumPhases]atomic.Int64
	Timed       atomic.Int64
}

// New returns an island over pop, training with tr and exchanging migrants
// through ex (nil for none).
func New(cfg Config, pop Population, tr Trainer, ex Exchange, log *slog.Logger) (*Island, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	is := &Island{cfg: cfg, pop: pop, tr: tr, ex: ex, log: log.With("component", "island"), sent: map[dna.ID]bool{}}
	for _, id := range cfg.Sent {
		is.sent[id] = true
	}
	return is, nil
}

// Stats returns the island's running totals.
func (is *Island) Stats() *Stats { return &is.stat }

// ErrFatal wraps errors that stop the island: the store failed (a full
// disk, say), not a single task.
var ErrFatal = errors.New("island: stopped")

// Run runs the workers, and the immigration loop when there is an
// exchange, until ctx ends, MaxChildren is reached, or the population fails.
// It returns nil after a normal stop.
func (is *Island) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// A run that resumes a population must not replay the random streams
	// of the run before it (it would breed genomes already recorded), so
	// the streams also depend on how many individuals were born already:
	// none for a fresh run, which therefore replays exactly.
	births, err := is.pop.Births()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFatal, err)
	}
	var workers, immigration sync.WaitGroup
	for w := range is.cfg.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			rng := rand.New(rand.NewPCG(is.cfg.Seed^is.cfg.Stream, uint64(w)+1+births<<16))
			if err := is.work(ctx, rng); err != nil {
				cancel(err)
			}
		}()
	}
	if is.ex != nil {
		immigration.Add(1)
		go func() {
			defer immigration.Done()
			if err := is.immigrate(ctx, births); err != nil {
				cancel(err)
			}
		}()
	}
	// A worker that reaches MaxChildren stops taking tasks but does not
	// cancel the others' children in training; once every worker is done,
	// the immigration loop stops too.
	workers.Wait()
	cancel(errDone)
	immigration.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, errDone) {
		return err
	}
	return nil
}

var errDone = errors.New("island: reached MaxChildren")

// work is one worker's loop.
func (is *Island) work(ctx context.Context, rng *rand.Rand) error {
	for ctx.Err() == nil {
		if is.cfg.MaxChildren > 0 && is.children.Load() >= int64(is.cfg.MaxChildren) {
			return nil
		}
		var t Timing
		t.begin()
		if err := is.settle(ctx, is.step(ctx, rng, &t)); errors.Is(err, errDone) {
			return nil
		} else if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if is.ex != nil && is.cfg.EmigrateInterval > 0 && is.intervalDue() {
			if err := is.emigrate(ctx); err != nil {
				return fmt.Errorf("%w: %w", ErrFatal, err)
			}
		}
		t.lap(PhaseEmigrate)
		if t.trained && ctx.Err() == nil {
			is.report(&t)
		}
	}
	return nil
}

// intervalDue reports whether EmigrateInterval has passed since the
// time-based emigration last ran, and if so takes the turn: one emigration
// an interval for the island, however many workers ask.
func (is *Island) intervalDue() bool {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.lastInterval.IsZero() {
		is.lastInterval = time.Now() // the first interval counts from the first ask
	}
	if time.Since(is.lastInterval) < is.cfg.EmigrateInterval {
		return false
	}
	is.lastInterval = time.Now()
	return true
}

// settle handles a task's error: a conflict is counted as an abandoned
// task, a stop is no error, anything else is fatal. What fails for
// another reason while the island stops (a full disk refusing the last
// insert) is not hidden by the stop: it is logged.
func (is *Island) settle(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
			!errors.Is(err, ErrConflict) && !errors.Is(err, errDone) {
			is.log.Error("a task failed while the island stopped", "err", err)
		}
		return nil
	case errors.Is(err, ErrConflict):
		is.stat.Abandoned.Add(1)
		if err := is.pop.Abandoned(); err != nil {
			return fmt.Errorf("%w: %w", ErrFatal, err)
		}
		is.log.Debug("task abandoned", "reason", err)
		return nil
	case errors.Is(err, errDone):
		return err
	}
	return fmt.Errorf("%w: %w", ErrFatal, err)
}

// Step runs one worker task synchronously, as a worker of Run would: an
// initial individual while the population is being built, else one
// tournament and the child it breeds, and the emigration it triggers
// (every EmigrateEvery children; EmigrateInterval is Run's alone). It is
// for a driver that runs islands without their goroutines, such as a
// simulator with a virtual clock; do not mix it with Run on one island.
// The task's timing goes to OnTrained. A conflict is counted as an
// abandoned task, not an error.
func (is *Island) Step(ctx context.Context, rng *rand.Rand) error {
	var t Timing
	t.begin()
	if err := is.settle(ctx, is.step(ctx, rng, &t)); err != nil {
		return err
	}
	t.lap(PhaseEmigrate)
	if t.trained && ctx.Err() == nil {
		is.report(&t)
	}
	return nil
}

// report records a task's timing: in the stats for a child, and through
// the OnTrained hook.
func (is *Island) report(t *Timing) {
	t.end()
	if t.Child {
		for p, d := range t.Phases {
			is.stat.ChildPhases[p].Add(int64(d))
		}
		is.stat.Timed.Add(1)
		// One line per child with its whole wall time, for
		// scripts/bench/child.sh to set against a standalone training.
		is.log.Debug("child timed", "id", t.ID.String(), "seconds", t.Total.Seconds(),
			"train_seconds", t.Phases[PhaseTrain].Seconds(), "evaluate_seconds", t.Phases[PhaseEvaluate].Seconds())
	}
	if is.cfg.OnTrained != nil {
		is.cfg.OnTrained(*t)
	}
}

// step runs one task: seeding an initial individual, or one tournament and
// the reproduction it decides. It times the task's phases in t, up to the
// emigration.
func (is *Island) step(ctx context.Context, rng *rand.Rand, t *Timing) error {
	members, err := is.pop.Alive()
	if err != nil {
		return err
	}
	if seed, err := is.claimSeed(len(members)); err != nil {
		return err
	} else if seed {
		t.lap(PhaseSelect)
		return is.seed(ctx, rng, t)
	}
	if len(members) < 2 {
		// Others are seeding; wait for them rather than spin.
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
		return nil
	}
	d, err := Select(members, is.cfg.SetPoint, is.cfg.Mode, rng)
	if err != nil {
		return err
	}
	var victim *dna.ID
	if d.Victim != nil {
		victim = &d.Victim.ID
	}
	if n := is.children.Add(1); is.cfg.MaxChildren > 0 && n > int64(is.cfg.MaxChildren) {
		return errDone
	}
	is.breeding.Add(1)
	defer is.breeding.Add(-1)
	res, err := is.pop.Tournament(d.Parent.ID, victim, time.Now())
	if err != nil {
		return err
	}
	parent, weights := res.Genome, res.Weights
	t.lap(PhaseSelect)
	child, ch, err := dna.Mutate(parent, rng, is.cfg.Mutation)
	if err != nil {
		// The parent has no child within the bounds (bounds tightened
		// since it was born, say): the tournament's loser is dead all the
		// same, as in the paper; the task counts as given up.
		is.log.Warn("no valid mutation", "parent", d.Parent.ID.Short(), "err", err)
		is.stat.Abandoned.Add(1)
		return is.pop.Abandoned()
	}
	t.lap(PhaseMutate)
	if ok, err := is.grow(ctx, child, weights, rng, t); err != nil || !ok {
		return err
	}
	is.stat.Children.Add(1)
	is.log.Info("child", "id", child.ID().Short(), "parent", d.Parent.ID.Short(), "mutation", ch.Kind.String(), "detail", ch.Detail,
		"build", t.Phases[PhaseBuild], "train", t.Phases[PhaseTrain], "evaluate", t.Phases[PhaseEvaluate])
	t.lap(PhaseStore)
	t.Child, t.ID = true, child.ID()
	if is.ex != nil && is.cfg.EmigrateEvery > 0 {
		is.mu.Lock()
		is.sinceEmi++
		due := is.sinceEmi >= is.cfg.EmigrateEvery
		if due {
			is.sinceEmi = 0
		}
		is.mu.Unlock()
		if due {
			return is.emigrate(ctx)
		}
	}
	return nil
}

// claimSeed reports whether the island is still building its initial
// population (fewer individuals have ever been born here than the
// set-point, and not enough are alive or in training to reach it), and if
// so counts one more seed in training. An island whose population fell
// below two, counting the children in training, also seeds.
func (is *Island) claimSeed(alive int) (bool, error) {
	is.seedMu.Lock()
	defer is.seedMu.Unlock()
	if !is.birthsKnown {
		births, err := is.pop.Births()
		if err != nil {
			return false, err
		}
		is.births0, is.birthsKnown = int(births), true
	}
	inflight := int(is.seeding.Load())
	need := alive+inflight+int(is.breeding.Load()) < 2 ||
		is.births0+is.claimed < is.cfg.SetPoint && alive+inflight < is.cfg.SetPoint
	if need {
		is.seeding.Add(1)
		is.claimed++
	}
	return need, nil
}

// seed trains one initial individual, claimed by claimSeed: the paper's
// trivial model, with a fresh nonce so that each has its own ID.
func (is *Island) seed(ctx context.Context, rng *rand.Rand, t *Timing) error {
	defer is.seeding.Add(-1)
	g := dna.Initial(is.cfg.Input, is.cfg.Classes, is.cfg.LearningRate)
	g.Nonce = rng.Uint64()
	t.lap(PhaseMutate)
	if ok, err := is.grow(ctx, g, nil, rng, t); err != nil || !ok {
		is.seedMu.Lock()
		is.claimed-- // not born: another may take its place
		is.seedMu.Unlock()
		return err
	}
	is.stat.Seeds.Add(1)
	is.log.Info("seeded", "id", g.ID().Short())
	t.lap(PhaseStore)
	return nil
}

// grow trains g (inheriting from parentWeights) and records the outcome,
// timing the build, training, evaluation and storing in t. It reports
// whether g was inserted (false: it failed to train, and was recorded so).
func (is *Island) grow(ctx context.Context, g *dna.Genome, parentWeights []byte, rng *rand.Rand, t *Timing) (bool, error) {
	ind, err := individual.New(g, is.cfg.Origin, time.Now())
	if err != nil {
		return false, err
	}
	if err := is.pop.Begin(ind); err != nil {
		return false, err
	}
	t.lap(PhaseStore)
	out, err := is.tr.Train(ctx, g, parentWeights, rng.Uint64())
	t.trainerLap(out)
	ind.TrainSeconds = t.Training.Seconds()
	if err == nil && out != nil {
		t.FLOPs = out.TrainFLOPs + out.EvalFLOPs
	}
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err() // left in training; abandoned at the next start
		}
		is.stat.Failed.Add(1)
		is.log.Warn("training failed", "id", g.ID().Short(), "err", err)
		err = is.pop.Fail(ind, err.Error())
		t.lap(PhaseStore)
		return false, err
	}
	// Born is when it was trained: its accuracy is known from now on (the
	// record in training kept when it started).
	ind.Born = time.Now()
	ind.Fitness, ind.Steps = out.Fitness, out.Steps
	ind.TrainFLOPs, ind.EvalFLOPs = out.TrainFLOPs, out.EvalFLOPs
	ind.InheritedParams, ind.SlicedParams, ind.NewParams = out.Inherited.Whole, out.Inherited.Sliced, out.Inherited.New
	if out.Diverged {
		ind.Fitness, ind.Error = 0, out.Reason
	}
	return true, is.pop.Insert(ind, out.Weights)
}

// emigrate sends the best live individual not yet sent.
func (is *Island) emigrate(ctx context.Context) error {
	is.mu.Lock()
	early := is.cfg.EmigrateMinGap > 0 && time.Since(is.lastEmigrated) < is.cfg.EmigrateMinGap
	if !early {
		is.lastEmigrated = time.Now() // reserved: another worker waits out the gap
	}
	is.mu.Unlock()
	if early { // skipped before reading the population: it comes often
		return nil
	}
	members, err := is.pop.Alive()
	if err != nil {
		return err
	}
	slices.SortStableFunc(members, func(a, b Member) int {
		switch {
		case a.Fitness > b.Fitness:
			return -1
		case a.Fitness < b.Fitness:
			return 1
		}
		return 0
	})
	is.mu.Lock()
	var pick *Member
	for i := range members {
		if !is.sent[members[i].ID] && members[i].Fitness > 0 { // a diverged child (fitness 0) is nobody's migrant
			pick = &members[i]
			is.sent[pick.ID] = true
			is.lastEmigrated = time.Now()
			break
		}
	}
	is.mu.Unlock()
	if pick == nil {
		return nil
	}
	res, err := is.pop.Tournament(pick.ID, nil, time.Now())
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return nil // it died meanwhile
		}
		return err
	}
	// An immigrant goes on under its own origin: relayed, not claimed.
	origin := res.Origin
	if origin == "" {
		origin = is.cfg.Origin
	}
	if err := is.ex.Send(ctx, Migrant{Genome: res.Genome, Fitness: pick.Fitness, Claimed: pick.Fitness, Weights: res.Weights, Origin: origin}); err != nil {
		is.log.Warn("emigration failed", "id", pick.ID.Short(), "err", err)
		return nil
	}
	is.stat.Emigrants.Add(1)
	is.log.Info("emigrated", "id", pick.ID.Short(), "fitness", pick.Fitness)
	return is.pop.Emigrated(pick.ID, "swarm")
}

// immigrate admits migrants: each meets a random local individual in a
// tournament and enters the population only if it wins; at or above the
// set-point the local loser dies.
func (is *Island) immigrate(ctx context.Context, births uint64) error {
	// This node's stream, as the workers', and like theirs not replayed by a
	// resumed run.
	rng := rand.New(rand.NewPCG(is.cfg.Seed^is.cfg.Stream, 0xface+births<<16))
	for {
		var m Migrant
		select {
		case <-ctx.Done():
			return nil
		case m = <-is.ex.Receive():
		}
		if _, err := is.Immigrate(m, rng); err != nil {
			return err
		}
	}
}

// immigrateTries is how many rivals an immigrant may meet when the drawn
// one dies meanwhile (Immigrate).
const immigrateTries = 3

// Immigrate lets one migrant (its fitness measured here) compete: it
// meets a random local individual, drawn with rng, and enters the
// population only if it is fitter; at or above the set-point the local
// loser dies. It reports whether the migrant joined; only a failing
// population is an error (wrapping ErrFatal). Run calls it for every
// migrant its exchange delivers; a simulator may call it directly.
func (is *Island) Immigrate(m Migrant, rng *rand.Rand) (bool, error) {
	if err := m.Genome.Validate(is.cfg.Mutation.Bounds); err != nil {
		is.stat.Rejected.Add(1)
		is.log.Warn("immigrant refused", "origin", m.Origin, "err", err)
		return false, nil
	}
	ind, err := individual.New(m.Genome, m.Origin, time.Now())
	if err != nil {
		is.log.Warn("immigrant not inserted", "id", m.Genome.ID().Short(), "err", err)
		return false, nil
	}
	ind.Fitness, ind.ClaimedFitness, ind.Immigrant = m.Fitness, m.Claimed, true
	// A worker's tournament may kill the drawn rival meanwhile (a
	// conflict): the migrant, fetched and measured at a cost, meets
	// another, a few times at most.
	for try := 1; ; try++ {
		members, err := is.pop.Alive()
		if err != nil {
			return false, fmt.Errorf("%w: %w", ErrFatal, err)
		}
		if len(members) == 0 {
			return false, nil
		}
		rival := members[rng.IntN(len(members))]
		if !(m.Fitness > rival.Fitness) { // a NaN fitness loses too
			is.stat.Rejected.Add(1)
			return false, nil
		}
		var victim *dna.ID
		if len(members) >= is.cfg.SetPoint {
			victim = &rival.ID
		}
		// One transaction: an immigrant already recorded here (one of
		// ours come back, or a copy admitted twice) kills nobody.
		err = is.pop.Immigrate(ind, m.Weights, victim, "lost to immigrant "+ind.ID.Short(), time.Now())
		switch {
		case err == nil:
		case errors.Is(err, ErrConflict) && try < immigrateTries:
			is.log.Debug("immigrant's rival gone, drawing another", "id", ind.ID.Short(), "err", err)
			continue
		case errors.Is(err, ErrConflict):
			is.log.Debug("immigrant not inserted", "id", ind.ID.Short(), "err", err)
			return false, nil
		case errors.Is(err, ErrRefused):
			is.log.Warn("immigrant not inserted", "id", ind.ID.Short(), "err", err)
			return false, nil
		default:
			return false, fmt.Errorf("%w: %w", ErrFatal, err) // the population failed (a full disk, ...)
		}
		break
	}
	is.stat.Immigrants.Add(1)
	is.log.Info("immigrated", "id", m.Genome.ID().Short(), "origin", m.Origin, "fitness", m.Fitness)
	return true, nil
}
