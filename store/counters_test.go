package store

import (
	"errors"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

func TestCountersFollowChanges(t *testing.T) {
	s := openMem(t)
	a, b := newInd(1, dna.ID{}, 0.1), newInd(2, dna.ID{}, 0.2)
	m := newInd(3, dna.ID{}, 0.3)
	m.Immigrant = true
	d := newInd(4, dna.ID{}, 0)
	d.Error = "loss diverged (NaN) at step 113"
	// Local trainings count their seconds; an immigrant's were spent
	// elsewhere, so its (here bogus) figure is not counted.
	a.TrainSeconds, b.TrainSeconds, m.TrainSeconds, d.TrainSeconds = 1.5, 2, 100, 0.25
	f := newInd(5, dna.ID{}, 0)
	f.TrainSeconds = 0.125
	insert(t, s, a, b, m, d)
	err := s.Update(func(tx *Tx) error {
		if err := tx.Fail(f, "out of memory", t0); err != nil {
			return err
		}
		if err := tx.Kill(a.ID, "x", t0); err != nil {
			return err
		}
		if err := tx.Emigrate(b.ID, "peer", t0); err != nil {
			return err
		}
		if err := tx.AddCounter(CounterAbandoned, 2); err != nil {
			return err
		}
		return tx.AddCounter(CounterFLOPs, 5e8)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Counters()
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{Trained: 3, Killed: 1, Abandoned: 2, Errors: 2, MigrantsIn: 1, MigrantsOut: 1,
		FLOPs: 4*1.1e9 + 5e8, TrainingSeconds: 1.5 + 2 + 0.25 + 0.125,
		Births: 4, Events: 4 + 1 + 1 + 1 + 1} // 3 births, 1 immigration, 1 error, a failure, death, emigration
	if got != want {
		t.Errorf("Counters() =\n%+v\nwant\n%+v", got, want)
	}
	verify(t, s)
}

func TestFailedUpdateChangesNothing(t *testing.T) {
	s := openMem(t)
	a := newInd(1, dna.ID{}, 0.1)
	insert(t, s, a)
	before, _ := s.Counters()
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if err := tx.Kill(a.ID, "x", t0.Add(time.Hour)); err != nil {
			return err
		}
		if err := tx.Insert(newInd(2, a.ID, 0.5), Seal([]byte("w"))); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("Update returned %v, want fn's error as is", err)
	}
	after, _ := s.Counters()
	if after != before {
		t.Errorf("counters after a failed Update = %+v, want %+v", after, before)
	}
	if got, _ := s.Get(a.ID); got.Status != StatusAlive {
		t.Errorf("a is %v after a failed Update, want alive", got.Status)
	}
	if _, err := s.Get(testID(2)); !errors.Is(err, ErrNotFound) {
		t.Errorf("child of a failed Update: %v, want ErrNotFound", err)
	}
	verify(t, s)
}

func TestAddCounterRefuses(t *testing.T) {
	s := openMem(t)
	for _, tc := range []struct {
		c     Counter
		delta int64
	}{{"births_seq", 1}, {"events_seq", 1}, {"nonsense", 1}, {CounterKilled, -1}, {CounterFLOPs, -1}} {
		err := s.Update(func(tx *Tx) error { return tx.AddCounter(tc.c, tc.delta) })
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("AddCounter(%q, %d) = %v, want ErrInvalid", tc.c, tc.delta, err)
		}
	}
}
