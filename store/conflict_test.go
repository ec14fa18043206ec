package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/evoswarm/evoswarm/island/dna"
)

func TestConcurrentKillsOfOneIndividual(t *testing.T) {
	s, _ := openDisk(t)
	x := newInd(1, dna.ID{}, 0.1)
	insert(t, s, x)
	const workers = 4
	errs := make([]error, workers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range workers {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = s.Update(func(tx *Tx) error {
				return tx.Kill(x.ID, fmt.Sprintf("worker %d", i), t0.Add(time.Hour))
			})
		}()
	}
	start.Done()
	done.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrConflict) || !errors.Is(err, ErrNotAlive):
			t.Errorf("worker %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d workers killed x, want exactly 1 (errors: %v)", ok, errs)
	}
	if c, _ := s.Counters(); c.Killed != 1 {
		t.Errorf("killed_total = %d, want 1", c.Killed)
	}
	verify(t, s)
}

// A worker picks a pair in a View; before its Update another worker kills
// the better one. Reserving it, in the same transaction as the kill of the
// worse one, must fail as a conflict and leave the worse one alive.
func TestStalePairConflicts(t *testing.T) {
	s := openMem(t)
	worse, better := newInd(1, dna.ID{}, 0.1), newInd(2, dna.ID{}, 0.9)
	insert(t, s, worse, better)
	if err := s.Update(func(tx *Tx) error { return tx.Kill(better.ID, "other worker", t0) }); err != nil {
		t.Fatal(err)
	}
	err := s.Update(func(tx *Tx) error {
		if err := tx.Kill(worse.ID, "lost to "+better.ID.Short(), t0); err != nil {
			return err
		}
		_, _, err := tx.Reserve(better.ID)
		return err
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("kill + reserve of a stale pair returned %v, want ErrConflict", err)
	}
	if got, _ := s.Get(worse.ID); got.Status != StatusAlive {
		t.Errorf("the worse one is %v after the abandoned task, want alive", got.Status)
	}
	verify(t, s)
}

// Many workers run the paper's loop against one store: View, pick two,
// Update killing the worse and reserving the better, insert a child. No
// individual may die twice, and the counters must match.
func TestWorkersLoop(t *testing.T) {
	s := openMem(t)
	const setPoint = 10
	var inds []*Individual
	for i := range setPoint {
		inds = append(inds, newInd(i, dna.ID{}, float64(i)/100))
	}
	insert(t, s, inds...)
	var mu sync.Mutex
	next := 1000
	conflicts, kills, births := 0, 0, 0
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 60 {
				var alive []Member
				var nTraining int
				s.View(func(tx *Tx) error {
					alive, _ = tx.Alive()
					tr, _ := tx.Training()
					nTraining = len(tr)
					return nil
				})
				if len(alive) < 2 {
					continue
				}
				i, j := rng.IntN(len(alive)), rng.IntN(len(alive)-1)
				if j >= i {
					j++
				}
				a, b := alive[i], alive[j]
				if a.Fitness > b.Fitness {
					a, b = b, a
				}
				killed := false
				var parent *Individual
				err := s.Update(func(tx *Tx) error {
					killed = false
					if len(alive)+nTraining >= setPoint {
						if err := tx.Kill(a.ID, "lost", t0); err != nil {
							return err
						}
						killed = true
					}
					var err error
					parent, _, err = tx.Reserve(b.ID)
					return err
				})
				mu.Lock()
				if errors.Is(err, ErrConflict) {
					conflicts++
					mu.Unlock()
					continue
				} else if err != nil {
					mu.Unlock()
					t.Errorf("Update: %v", err)
					return
				}
				if killed {
					kills++
				}
				next++
				child := newInd(next, parent.ID, rng.Float64())
				births++
				mu.Unlock()
				if err := s.Update(func(tx *Tx) error { return tx.Insert(child, Seal([]byte("w"))) }); err != nil {
					t.Errorf("Insert: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c, _ := s.Counters()
	if c.Killed != uint64(kills) || c.Births != uint64(births+setPoint) {
		t.Errorf("counters %+v; workers saw %d kills, %d births", c, kills, births)
	}
	t.Logf("%d kills, %d births, %d conflicts", kills, births, conflicts)
	verify(t, s)
}

func TestBadgerErrorsMapped(t *testing.T) {
	if err := wrapBadger("commit", badger.ErrConflict); !errors.Is(err, ErrConflict) {
		t.Errorf("wrapBadger(badger.ErrConflict) = %v, want ErrConflict", err)
	}
	if err := wrapBadger("get", badger.ErrDBClosed); !errors.Is(err, ErrClosed) {
		t.Errorf("wrapBadger(badger.ErrDBClosed) = %v, want ErrClosed", err)
	}
	if !errors.Is(ErrNotAlive, ErrConflict) {
		t.Errorf("ErrNotAlive does not match ErrConflict")
	}
	if errors.Is(ErrConflict, ErrNotAlive) {
		t.Errorf("ErrConflict matches ErrNotAlive")
	}
}
