package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

func TestInsertGetRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(testing.TB) *Store
	}{
		{"memory", openMem},
		{"disk", func(t testing.TB) *Store { s, _ := openDisk(t); return s }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			want := newInd(1, testID(99), 0.8125)
			want.HasTest, want.TestAccuracy = true, 0.8
			want.Immigrant = true
			want.Error = "loss diverged (NaN) at step 113"
			w := weightsOf(5, 100<<10) // 100 KB: goes to the value log
			err := s.Update(func(tx *Tx) error { return tx.Insert(want, w) })
			if err != nil {
				t.Fatalf("Insert: %v", err)
			}
			if want.Status != StatusAlive || want.BirthSeq != 1 {
				t.Errorf("after Insert: status %v, birth %d; want alive, 1", want.Status, want.BirthSeq)
			}
			got, err := s.Get(want.ID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !got.Born.Equal(want.Born) {
				t.Errorf("Born = %v, want %v", got.Born, want.Born)
			}
			got.Born = want.Born
			if !equalInd(got, want) {
				t.Errorf("Get returned\n%+v\nwant\n%+v", got, want)
			}
			err = s.View(func(tx *Tx) error {
				gw, err := tx.Weights(want.ID)
				if err != nil || !bytes.Equal(gw, w) {
					t.Errorf("Weights = %d bytes, %v; want the %d inserted", len(gw), err, len(w))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(testID(2)); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get of an unknown ID returned %v, want ErrNotFound", err)
			}
			verify(t, s)
		})
	}
}

func equalInd(a, b *Individual) bool {
	return a.ID == b.ID && bytes.Equal(a.Genome, b.Genome) && a.Fitness == b.Fitness &&
		a.TestAccuracy == b.TestAccuracy && a.HasTest == b.HasTest && a.Status == b.Status &&
		a.Born.Equal(b.Born) && a.Died.Equal(b.Died) && a.BirthSeq == b.BirthSeq &&
		a.Parent == b.Parent && a.Mutation == b.Mutation && a.Origin == b.Origin &&
		a.Immigrant == b.Immigrant && a.Params == b.Params && a.TrainFLOPs == b.TrainFLOPs &&
		a.EvalFLOPs == b.EvalFLOPs && a.Steps == b.Steps && a.Error == b.Error &&
		a.DeathReason == b.DeathReason
}

func TestKillDeletesWeightsKeepsRecord(t *testing.T) {
	s, _ := openDisk(t)
	a, b := newInd(1, dna.ID{}, 0.1), newInd(2, dna.ID{}, 0.5)
	insert(t, s, a, b)
	died := t0.Add(time.Hour)
	if err := s.Update(func(tx *Tx) error { return tx.Kill(a.ID, "lost to "+b.ID.Short(), died) }); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	err := s.View(func(tx *Tx) error {
		if _, err := tx.Weights(a.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Weights of the dead: %v, want ErrNotFound", err)
		}
		if _, err := tx.Weights(b.ID); err != nil {
			t.Errorf("Weights of the living: %v", err)
		}
		rec, err := tx.Get(a.ID)
		if err != nil {
			t.Fatalf("Get of the dead: %v", err)
		}
		if rec.Status != StatusDead || !rec.Died.Equal(died) || rec.DeathReason != "lost to "+b.ID.Short() ||
			rec.Fitness != 0.1 || rec.BirthSeq != 1 || string(rec.Genome) != "genome 1" {
			t.Errorf("record of the dead = %+v", rec)
		}
		alive, err := tx.Alive()
		if err != nil {
			return err
		}
		if len(alive) != 1 || alive[0] != (Member{ID: b.ID, Fitness: 0.5, BirthSeq: 2, Status: StatusAlive}) {
			t.Errorf("Alive() = %+v, want only b", alive)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var types []EventType
	s.Events(0, func(ev Event) error { types = append(types, ev.Type); return nil })
	if want := []EventType{EventBirth, EventBirth, EventDeath}; !equalTypes(types, want) {
		t.Errorf("events = %v, want %v", types, want)
	}
	if err := s.Update(func(tx *Tx) error { return tx.Kill(a.ID, "again", died) }); !errors.Is(err, ErrNotAlive) {
		t.Errorf("killing the dead: %v, want ErrNotAlive", err)
	}
	if err := s.Update(func(tx *Tx) error { return tx.Kill(testID(50), "x", died) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("killing the unknown: %v, want ErrNotFound", err)
	}
	verify(t, s)
}

func equalTypes(a, b []EventType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestInsertExisting(t *testing.T) {
	s := openMem(t)
	a := newInd(1, dna.ID{}, 0.1)
	insert(t, s, a)
	again := newInd(1, dna.ID{}, 0.1)
	again.Immigrant = true
	if err := s.Update(func(tx *Tx) error { return tx.Insert(again, nil) }); !errors.Is(err, ErrExists) {
		t.Errorf("inserting an alive ID again: %v, want ErrExists", err)
	}
	s.Update(func(tx *Tx) error { return tx.Kill(a.ID, "x", t0) })
	if err := s.Update(func(tx *Tx) error { return tx.Insert(again, nil) }); !errors.Is(err, ErrExists) {
		t.Errorf("inserting a dead ID again: %v, want ErrExists", err)
	}
	verify(t, s)
}

func TestInsertRefusesInvalid(t *testing.T) {
	s := openMem(t)
	for name, mod := range map[string]func(*Individual){
		"NaN fitness":               func(i *Individual) { i.Fitness = nan() },
		"NaN test":                  func(i *Individual) { i.HasTest, i.TestAccuracy = true, nan() },
		"no birth time":             func(i *Individual) { i.Born = time.Time{} },
		"dead status":               func(i *Individual) { i.Status = StatusDead },
		"negative training seconds": func(i *Individual) { i.TrainSeconds = -1 },
		"NaN training seconds":      func(i *Individual) { i.TrainSeconds = nan() },
	} {
		ind := newInd(1, dna.ID{}, 0.1)
		mod(ind)
		if err := s.Update(func(tx *Tx) error { return tx.Insert(ind, nil) }); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Insert returned %v, want ErrInvalid", name, err)
		}
	}
	// An unmeasured test accuracy may be NaN.
	ind := newInd(1, dna.ID{}, 0.1)
	ind.TestAccuracy = nan()
	insert(t, s, ind)
	verify(t, s)
}

func TestTrainingLifecycle(t *testing.T) {
	s := openMem(t)
	parent := newInd(1, dna.ID{}, 0.5)
	insert(t, s, parent)
	kids := []*Individual{newInd(2, parent.ID, 0), newInd(3, parent.ID, 0), newInd(4, parent.ID, 0), newInd(5, parent.ID, 0)}
	err := s.Update(func(tx *Tx) error {
		for _, k := range kids {
			if err := tx.StartTraining(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("StartTraining: %v", err)
	}
	err = s.View(func(tx *Tx) error {
		alive, _ := tx.Alive()
		training, _ := tx.Training()
		if len(alive) != 1 || len(training) != 4 {
			t.Errorf("alive %d, training %d; want 1, 4", len(alive), len(training))
		}
		if _, err := tx.Weights(kids[0].ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Weights of a child in training: %v, want ErrNotFound", err)
		}
		if _, _, err := tx.Reserve(kids[0].ID); !errors.Is(err, ErrNotAlive) {
			t.Errorf("Reserve of a child in training: %v, want ErrNotAlive", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// kid 0 is trained and inserted, kid 1 fails, kid 2 is abandoned, kid 3
	// is left in training, as by a crash.
	kids[0].Fitness, kids[0].Born = 0.6, t0.Add(time.Hour)
	insert(t, s, kids[0])
	err = s.Update(func(tx *Tx) error {
		if err := tx.Fail(kids[1], "out of memory", t0.Add(time.Hour)); err != nil {
			return err
		}
		return tx.Abandon(kids[2].ID, "conflict", t0.Add(time.Hour))
	})
	if err != nil {
		t.Fatalf("Fail, Abandon: %v", err)
	}
	if err := s.Update(func(tx *Tx) error { return tx.Abandon(kids[0].ID, "x", t0) }); !errors.Is(err, ErrInvalid) {
		t.Errorf("Abandon of an alive individual: %v, want ErrInvalid", err)
	}
	verify(t, s)
	n, err := s.AbandonTraining("interrupted by a restart", t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("AbandonTraining = %d, %v; want 1", n, err)
	}
	wantStatus := []Status{StatusAlive, StatusDead, StatusDead, StatusDead}
	wantReason := []string{"", "out of memory", "conflict", "interrupted by a restart"}
	for i, k := range kids {
		got, err := s.Get(k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != wantStatus[i] || got.DeathReason != wantReason[i] {
			t.Errorf("kid %d: status %v, reason %q; want %v, %q", i, got.Status, got.DeathReason, wantStatus[i], wantReason[i])
		}
	}
	if got, _ := s.Get(kids[0].ID); got.BirthSeq != 2 || got.Fitness != 0.6 {
		t.Errorf("inserted kid: birth %d, fitness %v; want 2, 0.6", got.BirthSeq, got.Fitness)
	}
	c, _ := s.Counters()
	if c.Trained != 2 || c.Errors != 1 || c.Abandoned != 2 || c.Killed != 0 || c.Births != 2 {
		t.Errorf("counters = %+v", c)
	}
	var types []EventType
	s.Events(0, func(ev Event) error { types = append(types, ev.Type); return nil })
	want := []EventType{EventBirth, EventBirth, EventError, EventAbandon, EventAbandon}
	if !equalTypes(types, want) {
		t.Errorf("events = %v, want %v", types, want)
	}
	verify(t, s)
}

func TestPutKeepsStatus(t *testing.T) {
	s := openMem(t)
	a := newInd(1, dna.ID{}, 0.5)
	insert(t, s, a)
	err := s.Update(func(tx *Tx) error {
		ind, err := tx.Get(a.ID)
		if err != nil {
			return err
		}
		ind.HasTest, ind.TestAccuracy, ind.Fitness = true, 0.77, 0.55
		return tx.Put(ind)
	})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, _ := s.Get(a.ID)
	if !got.HasTest || got.TestAccuracy != 0.77 {
		t.Errorf("after Put: %+v", got)
	}
	s.View(func(tx *Tx) error {
		alive, _ := tx.Alive()
		if len(alive) != 1 || alive[0].Fitness != 0.55 {
			t.Errorf("alive index after Put = %+v, want fitness 0.55", alive)
		}
		return nil
	})
	err = s.Update(func(tx *Tx) error {
		got.Status = StatusDead
		return tx.Put(got)
	})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("Put changing the status: %v, want ErrInvalid", err)
	}
	if err := s.Update(func(tx *Tx) error { return tx.Put(newInd(9, dna.ID{}, 0)) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Put of an unknown individual: %v, want ErrNotFound", err)
	}
	verify(t, s)
}

func TestEmigrate(t *testing.T) {
	s := openMem(t)
	a := newInd(1, dna.ID{}, 0.5)
	insert(t, s, a)
	if err := s.Update(func(tx *Tx) error { return tx.Emigrate(a.ID, "12D3KooWpeer", t0.Add(time.Minute)) }); err != nil {
		t.Fatal(err)
	}
	var last Event
	s.Events(0, func(ev Event) error { last = ev; return nil })
	if last.Type != EventEmigration || last.ID != a.ID || last.Detail != "to 12D3KooWpeer" {
		t.Errorf("last event = %+v", last)
	}
	if c, _ := s.Counters(); c.MigrantsOut != 1 {
		t.Errorf("migrants_out = %d, want 1", c.MigrantsOut)
	}
	if got, _ := s.Get(a.ID); got.Status != StatusAlive {
		t.Errorf("emigrant's status = %v, want alive (a copy left)", got.Status)
	}
}

// TestAbandonManyTrainings: a node with more workers than one
// transaction can abandon has every training abandoned, in batches.
func TestAbandonManyTrainings(t *testing.T) {
	s := openMem(t)
	parent := newInd(1, dna.ID{}, 0.5)
	insert(t, s, parent)
	const kids = 2*abandonBatch + 5
	for i := range kids {
		k := newInd(10+i, parent.ID, 0)
		if err := s.Update(func(tx *Tx) error { return tx.StartTraining(k) }); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.AbandonTraining("interrupted by a restart", t0)
	if err != nil || n != kids {
		t.Fatalf("AbandonTraining = %d, %v; want %d", n, err, kids)
	}
	s.View(func(tx *Tx) error {
		if left, _ := tx.Training(); len(left) != 0 {
			t.Errorf("%d still in training", len(left))
		}
		return nil
	})
	if c, _ := s.Counters(); c.Abandoned != kids {
		t.Errorf("abandoned counter %d, want %d", c.Abandoned, kids)
	}
	verify(t, s)
}
