package island

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
)

func testConfig(workers, setPoint, children int) Config {
	o := dna.DefaultMutateOptions()
	o.InsertMinChannels = 8
	return Config{
		SetPoint: setPoint, Workers: workers, Mode: Worst, Mutation: o,
		Input: dna.Shape{H: 28, W: 28, C: 1}, Classes: 10, LearningRate: 0.1,
		Seed: 42, Origin: "test", MaxChildren: children,
	}
}

func run(t *testing.T, cfg Config, pop Population, tr Trainer, ex Exchange) *Island {
	t.Helper()
	is, err := New(cfg, pop, tr, ex, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := is.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("island did not stop by itself within 30 s")
	}
	return is
}

func TestIslandSeedsThenEvolves(t *testing.T) {
	pop := newMemPop()
	// A little training time, so that the workers' children overlap when
	// the cap is reached.
	is := run(t, testConfig(3, 8, 120), pop, fakeTrainer{delay: time.Millisecond}, nil)
	if got := is.Stats().Seeds.Load(); got != 8 {
		t.Errorf("seeded %d initial individuals, want the set-point 8", got)
	}
	alive, _ := pop.Alive()
	// Workers reproduce below the set-point without waiting for each
	// other, so the population moves within workers-1 of it either way.
	if len(alive) < 8-3 || len(alive) > 8+3-1 {
		t.Errorf("%d alive after the run, want within 2 of the set-point 8", len(alive))
	}
	// MaxChildren counts children started, and every child started is
	// finished: the worker that reaches the cap does not cancel the
	// others' children in training. A worker abandons its child when
	// another killed the parent meanwhile (a conflict, more likely the
	// more workers run).
	st := is.Stats()
	c, ab, fl := st.Children.Load(), st.Abandoned.Load(), st.Failed.Load()
	pop.mu.Lock()
	left := len(pop.training)
	pop.mu.Unlock()
	if c+ab+fl != 120 || c < 60 || left != 0 {
		t.Errorf("%d children, %d abandoned, %d failed, %d left in training: want them to make MaxChildren (120), most of them children, none left",
			c, ab, fl, left)
	}
	best := 0.0
	for _, m := range alive {
		best = max(best, m.Fitness)
	}
	if best < 0.3 {
		t.Errorf("best fitness %.3f after 120 children: selection did not climb from 0.1", best)
	}
}

// TestIslandRepeatable: with one worker and the same seed, two runs give the
// same sequence of genomes.
func TestIslandRepeatable(t *testing.T) {
	var runs [2][]dna.ID
	for i := range runs {
		pop := newMemPop()
		run(t, testConfig(1, 5, 40), pop, fakeTrainer{}, nil)
		runs[i] = pop.inserted
	}
	if len(runs[0]) != 45 || !slices.Equal(runs[0], runs[1]) {
		t.Fatalf("runs inserted %d and %d genomes, or in different order", len(runs[0]), len(runs[1]))
	}
	pop := newMemPop()
	cfg := testConfig(1, 5, 40)
	cfg.Seed = 43
	run(t, cfg, pop, fakeTrainer{}, nil)
	if slices.Equal(runs[0], pop.inserted) {
		t.Error("another seed gave the same run")
	}
}

func TestIslandAbandonsOnConflict(t *testing.T) {
	pop := newMemPop()
	pop.conflictN = 3
	is := run(t, testConfig(1, 4, 10), pop, fakeTrainer{}, nil)
	if is.Stats().Abandoned.Load() != 3 || pop.abandoned != 3 {
		t.Errorf("abandoned %d (recorded %d), want 3", is.Stats().Abandoned.Load(), pop.abandoned)
	}
}

// TestIslandMigration: a better island's emigrants enter a worse island's
// population through tournaments.
func TestIslandMigration(t *testing.T) {
	hub := &LocalHub{}
	good, poor := newMemPop(), newMemPop()
	cfgGood := testConfig(1, 4, 40)
	cfgGood.EmigrateEvery, cfgGood.Origin = 2, "good"
	cfgPoor := testConfig(1, 4, 60)
	cfgPoor.Seed, cfgPoor.Origin = 7, "poor"
	exGood, exPoor := hub.Join(), hub.Join()
	isGood, err := New(cfgGood, good, fakeTrainer{bonus: 0.5, delay: 2 * time.Millisecond}, exGood, nil)
	if err != nil {
		t.Fatal(err)
	}
	isPoor, err := New(cfgPoor, poor, fakeTrainer{delay: 2 * time.Millisecond}, exPoor, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 2)
	go func() { done <- isGood.Run(ctx) }()
	go func() { done <- isPoor.Run(ctx) }()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if isGood.Stats().Emigrants.Load() == 0 || good.emigrated == 0 {
		t.Fatal("the good island sent no emigrants")
	}
	if isPoor.Stats().Immigrants.Load() == 0 {
		t.Fatalf("the poor island accepted no immigrants (rejected %d)", isPoor.Stats().Rejected.Load())
	}
	imm := 0
	for _, m := range poor.alive {
		if m.ind.Immigrant && m.ind.Origin == "good" {
			imm++
		}
	}
	t.Logf("poor island: %d immigrants accepted, %d alive now", isPoor.Stats().Immigrants.Load(), imm)
}

// TestIslandEmigrateMinGap: an island of fast children that would emigrate
// every second child sends no more often than EmigrateMinGap allows (peers
// penalise a signer that announces faster than they validate).
func TestIslandEmigrateMinGap(t *testing.T) {
	for _, gap := range []time.Duration{0, time.Hour} {
		hub := &LocalHub{}
		cfg := testConfig(1, 4, 40)
		cfg.EmigrateEvery, cfg.EmigrateMinGap, cfg.Origin = 2, gap, "fast"
		is := run(t, cfg, newMemPop(), fakeTrainer{}, hub.Join())
		sent := is.Stats().Emigrants.Load()
		t.Logf("gap %v: 40 children, %d emigrants", gap, sent)
		if gap == 0 && sent < 10 || gap > 0 && sent != 1 {
			t.Errorf("gap %v: %d emigrants from 40 children every 2; want 1 with a gap of an hour, at least 10 without", gap, sent)
		}
	}
}

// TestIslandResumes: a second run over the same population (a restart)
// breeds new genomes rather than replaying the first run's streams.
func TestIslandResumes(t *testing.T) {
	pop := newMemPop()
	run(t, testConfig(1, 4, 10), pop, fakeTrainer{}, nil)
	first := len(pop.inserted)
	run(t, testConfig(1, 4, 10), pop, fakeTrainer{}, nil)
	if len(pop.inserted) != first+10 {
		t.Errorf("after a restart: %d inserted, want %d more than the first run's %d", len(pop.inserted)-first, 10, first)
	}
}

// insertLog records every individual inserted, as inserted.
type insertLog struct {
	*memPop
	mu   sync.Mutex
	inds []individual.Individual
}

func (l *insertLog) Insert(ind *individual.Individual, w []byte) error {
	l.mu.Lock()
	l.inds = append(l.inds, *ind)
	l.mu.Unlock()
	return l.memPop.Insert(ind, w)
}

// TestIslandRecordsTrainingTime: an individual is born when its training
// ended, when its accuracy became known (progress curves count it from
// then), and carries the training's wall time.
func TestIslandRecordsTrainingTime(t *testing.T) {
	const delay = 40 * time.Millisecond
	pop := &insertLog{memPop: newMemPop()}
	start := time.Now()
	run(t, testConfig(1, 2, 2), pop, fakeTrainer{delay: delay}, nil)
	if len(pop.inds) != 4 {
		t.Fatalf("%d inserted, want 2 initial individuals and 2 children", len(pop.inds))
	}
	for k, ind := range pop.inds {
		// One worker: the k-th (from 0) ends after k+1 trainings.
		if since := ind.Born.Sub(start); since < time.Duration(k+1)*delay {
			t.Errorf("individual %d born %v after the start, before its training of %v could end", k, since, delay)
		}
		if ind.TrainSeconds < delay.Seconds() || ind.TrainSeconds > 10 {
			t.Errorf("individual %d: training seconds %v, want at least the trainer's %v", k, ind.TrainSeconds, delay)
		}
	}
}

// TestImmigrateKnownKillsNobody: a migrant already recorded here (one of
// ours come back after it died, or a copy admitted twice) is refused in
// the same transaction as the kill, so its rival lives; a NaN fitness
// never wins.
func TestImmigrateKnownKillsNobody(t *testing.T) {
	pop := newMemPop()
	is, err := New(testConfig(1, 4, 0), pop, fakeTrainer{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		g := testGenome(t, uint64(i+1), 1)
		if err := pop.Insert(&individual.Individual{ID: g.ID(), Genome: mustBinary(t, g), Fitness: 0.5}, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	members, _ := pop.Alive()
	if len(members) != 4 {
		t.Fatalf("%d alive after seeding, want 4", len(members))
	}
	gone := members[0].ID
	pop.mu.Lock()
	back := pop.alive[gone]
	pop.mu.Unlock()
	if err := pop.kill(gone, "test", t0); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, m := range []Migrant{
		{Genome: back.genome, Fitness: 0.99, Weights: back.weights, Origin: "elsewhere"}, // died here
		{Genome: testGenome(t, 99, 1), Fitness: math.NaN(), Weights: []byte{1}, Origin: "elsewhere"},
	} {
		for range 10 { // whichever rival is drawn
			joined, err := is.Immigrate(m, rng)
			if err != nil || joined {
				t.Fatalf("immigrant %s (fitness %v): joined %v, %v; want refused", m.Genome.ID().Short(), m.Fitness, joined, err)
			}
		}
	}
	if after, _ := pop.Alive(); len(after) != 3 {
		t.Errorf("%d alive after refused immigrants, want the 3 left: a refused immigrant killed its rival", len(after))
	}
	// A new, fitter immigrant still wins, and kills its rival at the set-point.
	g := testGenome(t, 7, 1)
	if err := pop.Insert(&individual.Individual{ID: g.ID(), Genome: mustBinary(t, g), Fitness: 0.5}, []byte{1}); err != nil {
		t.Fatal(err)
	}
	joined, err := is.Immigrate(Migrant{Genome: testGenome(t, 98, 1), Fitness: 0.99, Weights: []byte{1}, Origin: "elsewhere"}, rng)
	if after, _ := pop.Alive(); err != nil || !joined || len(after) != 4 {
		t.Errorf("a new fitter immigrant: joined %v, %v, %d alive; want it in, its rival dead, 4 alive", joined, err, len(after))
	}
}

func mustBinary(t *testing.T, g *dna.Genome) []byte {
	t.Helper()
	b, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDivergedIsNotEmigrated: a diverged child (fitness 0, its weights
// not finite) is never sent: a receiver would find its weights unusable
// and hold it against the sender.
func TestDivergedIsNotEmigrated(t *testing.T) {
	hub := &LocalHub{}
	ex, other := hub.Join(), hub.Join()
	pop := newMemPop()
	is, err := New(testConfig(1, 4, 0), pop, fakeTrainer{}, ex, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, fit := range []float64{0, 0.4} {
		g := testGenome(t, uint64(i+1), 1)
		if err := pop.Insert(&individual.Individual{ID: g.ID(), Genome: mustBinary(t, g), Fitness: fit}, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := is.emigrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var sent []float64
	for len(sent) < 3 {
		select {
		case m := <-other.Receive():
			sent = append(sent, m.Fitness)
			continue
		case <-time.After(200 * time.Millisecond):
		}
		break
	}
	if len(sent) != 1 || sent[0] != 0.4 {
		t.Errorf("emigrated fitnesses %v, want only the 0.4 one", sent)
	}
}

// TestImmigrantIsRelayed: an immigrant emigrated again keeps its origin
// (the exchange relays it), where an individual trained here goes out
// under this island's.
func TestImmigrantIsRelayed(t *testing.T) {
	hub := &LocalHub{}
	ex, other := hub.Join(), hub.Join()
	pop := newMemPop()
	cfg := testConfig(1, 4, 0)
	is, err := New(cfg, pop, fakeTrainer{}, ex, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, ind := range []individual.Individual{
		{Fitness: 0.9, Origin: "elsewhere", Immigrant: true},
		{Fitness: 0.4, Origin: cfg.Origin},
	} {
		g := testGenome(t, uint64(i+1), 1)
		ind.ID, ind.Genome = g.ID(), mustBinary(t, g)
		if err := pop.Insert(&ind, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	var origins []string
	for range 2 {
		if err := is.emigrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-other.Receive():
			origins = append(origins, m.Origin)
		case <-time.After(time.Second):
			t.Fatal("nothing emigrated")
		}
	}
	if !slices.Equal(origins, []string{"elsewhere", cfg.Origin}) {
		t.Errorf("emigrated with origins %q, want the immigrant's own, then this island's", origins)
	}
}

// TestEmigrationIntervalIsTheIslands: the time-based emigration runs once
// an interval for the island, not once a worker.
func TestEmigrationIntervalIsTheIslands(t *testing.T) {
	cfg := testConfig(4, 4, 0)
	cfg.EmigrateInterval = time.Hour
	is, err := New(cfg, newMemPop(), fakeTrainer{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if is.intervalDue() {
		t.Fatal("due at the first ask: the interval counts from then")
	}
	is.mu.Lock()
	is.lastInterval = time.Now().Add(-2 * time.Hour)
	is.mu.Unlock()
	var due atomic.Int32
	var wg sync.WaitGroup
	for range 4 { // the workers
		wg.Go(func() {
			if is.intervalDue() {
				due.Add(1)
			}
		})
	}
	wg.Wait()
	if due.Load() != 1 {
		t.Errorf("%d of 4 workers emigrate when the interval is up, want 1", due.Load())
	}
}

// failingImmigrate is a population whose Immigrate fails with err.
type failingImmigrate struct {
	*memPop
	err error
}

func (f failingImmigrate) Immigrate(*individual.Individual, []byte, *dna.ID, string, time.Time) error {
	return f.err
}

// TestImmigrateStoreFailureIsFatal: a population that fails to store a
// winning immigrant (a full disk) stops the island; one that refuses it
// (ErrRefused) or lost the race (ErrConflict) does not.
func TestImmigrateStoreFailureIsFatal(t *testing.T) {
	for _, tc := range []struct {
		err   error
		fatal bool
	}{
		{errors.New("no space left on device"), true},
		{fmt.Errorf("bad weights: %w", ErrRefused), false},
		{fmt.Errorf("rival died: %w", ErrConflict), false},
	} {
		pop := failingImmigrate{newMemPop(), tc.err}
		is := oneMemberIsland(t, pop, pop.memPop)
		_, err := is.Immigrate(Migrant{Genome: testGenome(t, 2, 1), Fitness: 0.9, Weights: []byte{1}}, rand.New(rand.NewPCG(1, 1)))
		if fatal := errors.Is(err, ErrFatal); fatal != tc.fatal {
			t.Errorf("population error %q: Immigrate returned %v; want fatal %v", tc.err, err, tc.fatal)
		}
	}
}

// TestNoValidMutationIsAbandoned resumes a population under bounds its
// individuals exceed: no parent has a valid child, and each such
// tournament is counted as given up, not silently dropped.
func TestNoValidMutationIsAbandoned(t *testing.T) {
	pop := newMemPop()
	run(t, testConfig(1, 4, 6), pop, fakeTrainer{}, nil)
	cfg := testConfig(1, 4, 3)
	cfg.Mutation.Bounds.MaxParams = 1 // below any genome's
	is := run(t, cfg, pop, fakeTrainer{}, nil)
	if n := is.Stats().Children.Load(); n != 0 {
		t.Errorf("%d children under bounds no genome fits", n)
	}
	if got := is.Stats().Abandoned.Load(); got != 3 || pop.abandoned != 3 {
		t.Errorf("abandoned %d (recorded %d), want the 3 tournaments", got, pop.abandoned)
	}
}

// oneMemberIsland returns an island over pop, whose memory m holds one
// individual of fitness 0.1 for an immigrant to meet.
func oneMemberIsland(t *testing.T, pop Population, m *memPop) *Island {
	t.Helper()
	g := testGenome(t, 1, 1)
	if err := m.Insert(&individual.Individual{ID: g.ID(), Genome: mustBinary(t, g), Fitness: 0.1}, []byte{1}); err != nil {
		t.Fatal(err)
	}
	is, err := New(testConfig(1, 4, 0), pop, fakeTrainer{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// rivalDies is a population whose first conflicts Immigrate calls fail
// as if the drawn rival had died meanwhile.
type rivalDies struct {
	*memPop
	conflicts *int
}

func (r rivalDies) Immigrate(ind *individual.Individual, w []byte, victim *dna.ID, reason string, at time.Time) error {
	if *r.conflicts > 0 {
		*r.conflicts--
		return fmt.Errorf("rival died: %w", ErrConflict)
	}
	return r.memPop.Immigrate(ind, w, victim, reason, at)
}

// TestImmigrantMeetsAnotherRival: an immigrant whose drawn rival died
// meanwhile meets another instead of being lost, a few times at most.
func TestImmigrantMeetsAnotherRival(t *testing.T) {
	for _, tc := range []struct {
		conflicts int
		joins     bool
	}{{1, true}, {immigrateTries - 1, true}, {immigrateTries, false}} {
		n := tc.conflicts
		pop := rivalDies{newMemPop(), &n}
		is := oneMemberIsland(t, pop, pop.memPop)
		joined, err := is.Immigrate(Migrant{Genome: testGenome(t, 2, 1), Fitness: 0.9, Weights: []byte{1}}, rand.New(rand.NewPCG(1, 1)))
		if err != nil || joined != tc.joins {
			t.Errorf("after %d conflicts: joined %v (%v), want %v", tc.conflicts, joined, err, tc.joins)
		}
	}
}

// TestStopDoesNotHideFailures: a task that fails for a reason of its own
// (a full disk) while the island stops is logged, not taken for the stop;
// the stop itself, and conflicts, are not.
func TestStopDoesNotHideFailures(t *testing.T) {
	var buf bytes.Buffer
	is, err := New(testConfig(1, 4, 0), newMemPop(), fakeTrainer{}, nil, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, quiet := range []error{context.Canceled, fmt.Errorf("training: %w", context.Canceled), fmt.Errorf("raced: %w", ErrConflict)} {
		if err := is.settle(ctx, quiet); err != nil || buf.Len() != 0 {
			t.Errorf("settle(%v) while stopping: %v, logged %q; want nil and nothing logged", quiet, err, buf.String())
		}
	}
	if err := is.settle(ctx, errors.New("store: disk full")); err != nil || !strings.Contains(buf.String(), "disk full") {
		t.Errorf("settle(disk full) while stopping: %v, logged %q; want nil and the error logged", err, buf.String())
	}
}

// TestSeedCountsChildrenInTraining: an evolved island with one individual
// alive and a child in training (whose tournament already killed its
// victim) is not below two, so it does not seed a trivial model; with no
// child in training it is, and does.
func TestSeedCountsChildrenInTraining(t *testing.T) {
	pop := newMemPop()
	pop.births = 50 // long past the initial population
	is, err := New(testConfig(3, 3, 0), pop, fakeTrainer{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	is.breeding.Add(1)
	if need, err := is.claimSeed(1); err != nil || need {
		t.Errorf("one alive and one child in training: seed %v (%v), want none", need, err)
	}
	is.breeding.Add(-1)
	if need, err := is.claimSeed(1); err != nil || !need {
		t.Errorf("one alive and nothing in training: seed %v (%v), want one", need, err)
	}
}

// TestConfigRefusesBarrenMutations: a mutation set none of whose
// mutations applies to the initial genome (it has no convolution to remove
// and no skip) is refused when the island is made, naming the mutations.
func TestConfigRefusesBarrenMutations(t *testing.T) {
	cfg := testConfig(1, 4, 10)
	cfg.Mutation.Weights = map[dna.Kind]float64{dna.RemoveSkip: 1, dna.RemoveConvolution: 1, dna.KeepTraining: 0}
	_, err := New(cfg, newMemPop(), fakeTrainer{}, nil, nil)
	if !errors.Is(err, dna.ErrNoMutation) || !strings.Contains(err.Error(), "remove-convolution, remove-skip") {
		t.Errorf("New with only removals: %v; want ErrNoMutation naming them", err)
	}
	cfg.Mutation.Weights[dna.InsertConvolution] = 0.1
	if _, err := New(cfg, newMemPop(), fakeTrainer{}, nil, nil); err != nil {
		t.Errorf("New with insert-convolution added: %v", err)
	}
}
