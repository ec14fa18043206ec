package island

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

// timedTrainer sleeps for a build, a training and an evaluation, and says
// so in its Outcome, as the node's trainer does.
type timedTrainer struct {
	build, train, eval time.Duration
}

func (f timedTrainer) Train(ctx context.Context, g *dna.Genome, w []byte, seed uint64) (*Outcome, error) {
	start := time.Now()
	time.Sleep(f.build)
	b := time.Since(start)
	time.Sleep(f.train)
	tr := time.Since(start) - b
	time.Sleep(f.eval)
	e := time.Since(start) - b - tr
	out, err := fakeTrainer{}.Train(ctx, g, w, seed)
	if err != nil {
		return nil, err
	}
	time.Sleep(f.build / 4) // copying out the weights: counts as storing
	out.BuildTime, out.TrainTime, out.EvalTime = b, tr, e
	return out, nil
}

// TestTimingPhases: every individual trained is reported once through
// OnTrained, children marked as such; a child's phases add up to its wall
// time, each holds at least what the trainer slept in it, and the stats
// sum the children's.
func TestTimingPhases(t *testing.T) {
	const setPoint, children = 4, 12
	var mu sync.Mutex
	var got []Timing
	cfg := testConfig(1, setPoint, children)
	cfg.EmigrateEvery = 3
	cfg.OnTrained = func(tm Timing) {
		mu.Lock()
		got = append(got, tm)
		mu.Unlock()
	}
	tr := timedTrainer{build: 2 * time.Millisecond, train: 6 * time.Millisecond, eval: 3 * time.Millisecond}
	hub := &LocalHub{}
	is, err := New(cfg, newMemPop(), tr, hub.Join(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := is.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := is.Stats()
	if n := st.Seeds.Load() + st.Children.Load(); int64(len(got)) != n {
		t.Fatalf("OnTrained called %d times for %d individuals trained", len(got), n)
	}
	var sum [NumPhases]time.Duration
	var nChild int64
	for i, tm := range got {
		var add time.Duration
		for _, d := range tm.Phases {
			if d < 0 {
				t.Errorf("timing %d: negative phase in %v", i, tm.Phases)
			}
			add += d
		}
		if add != tm.Total {
			t.Errorf("timing %d: phases add up to %v, total %v", i, add, tm.Total)
		}
		if tm.Training < tr.build+tr.train+tr.eval {
			t.Errorf("timing %d: training %v, the trainer slept %v", i, tm.Training, tr.build+tr.train+tr.eval)
		}
		if got := tm.Phases[PhaseBuild] + tm.Phases[PhaseTrain] + tm.Phases[PhaseEvaluate]; got > tm.Training {
			t.Errorf("timing %d: build+train+evaluate %v exceed the trainer's call %v", i, got, tm.Training)
		}
		if !tm.Child {
			continue
		}
		nChild++
		for p, min := range map[Phase]time.Duration{PhaseBuild: tr.build, PhaseTrain: tr.train, PhaseEvaluate: tr.eval, PhaseStore: tr.build / 4} {
			if tm.Phases[p] < min {
				t.Errorf("child %d: %s took %v, the trainer slept %v in it", i, p, tm.Phases[p], min)
			}
		}
		if tm.Phases[PhaseSelect] <= 0 || tm.Phases[PhaseMutate] <= 0 {
			t.Errorf("child %d: select %v, mutate %v: want both timed", i, tm.Phases[PhaseSelect], tm.Phases[PhaseMutate])
		}
		for p, d := range tm.Phases {
			sum[p] += d
		}
	}
	if nChild != st.Children.Load() || st.Timed.Load() != nChild {
		t.Errorf("%d timings of children, %d children made, %d timed in the stats", nChild, st.Children.Load(), st.Timed.Load())
	}
	for p := range NumPhases {
		if got := time.Duration(st.ChildPhases[p].Load()); got != sum[p] {
			t.Errorf("stats: %s sums %v, the reported children's %v", p, got, sum[p])
		}
	}
	if st.Emigrants.Load() == 0 {
		t.Error("no emigrant: the emigrate phase timed nothing")
	}
}

// A trainer that measures nothing has its whole call counted as training;
// durations a nanosecond over the call (rounding) are cut to fit.
func TestTrainerLap(t *testing.T) {
	var tm Timing
	tm.begin()
	time.Sleep(time.Millisecond)
	tm.lap(PhaseSelect)
	time.Sleep(2 * time.Millisecond)
	tm.trainerLap(nil)
	if tm.Phases[PhaseTrain] != tm.Training || tm.Training < 2*time.Millisecond || tm.Phases[PhaseStore] != 0 {
		t.Errorf("no measures: phases %v, training %v", tm.Phases, tm.Training)
	}
	var over Timing
	over.begin()
	time.Sleep(time.Millisecond)
	over.trainerLap(&Outcome{BuildTime: time.Hour, TrainTime: time.Hour, EvalTime: time.Hour})
	over.end()
	var add time.Duration
	for _, d := range over.Phases {
		if d < 0 {
			t.Errorf("negative phase: %v", over.Phases)
		}
		add += d
	}
	if add != over.Total || over.Phases[PhaseStore] != 0 {
		t.Errorf("over-long measures: phases %v add up to %v, total %v", over.Phases, add, over.Total)
	}
	if PhaseEmigrate.String() != "emigrate" || NumPhases.String() != "unknown" {
		t.Errorf("phase names: %q, %q", PhaseEmigrate, NumPhases)
	}
}
