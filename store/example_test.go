package store_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
)

// One step of an island worker: list the population, pick two, kill the
// worse and reserve the better in one transaction, train outside any
// transaction, insert the child.
func Example_workerStep() {
	s, err := store.Open("example", store.Options{InMemory: true})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, f := range []float64{0.2, 0.7} {
		ind := &store.Individual{ID: dna.ID{byte(i + 1)}, Fitness: f, Born: now}
		// Weights end with the SHA-256 of what precedes them, as train's
		// encoding does; the store checks it on the way in and out.
		w := store.Seal([]byte("weights"))
		if err := s.Update(func(tx *store.Tx) error { return tx.Insert(ind, w) }); err != nil {
			panic(err)
		}
	}

	// (1) Pick two in a cheap, read-only View.
	var alive []store.Member
	s.View(func(tx *store.Tx) error { alive, err = tx.Alive(); return err })
	worse, better := alive[0], alive[1]
	if worse.Fitness > better.Fitness {
		worse, better = better, worse
	}

	// (2) Kill and reserve in one Update: if another worker changed the
	// pair since the View, the whole transaction fails with ErrConflict.
	var parent *store.Individual
	var weights []byte
	err = s.Update(func(tx *store.Tx) error {
		if err := tx.Kill(worse.ID, "lost to "+better.ID.Short(), now); err != nil {
			return err
		}
		parent, weights, err = tx.Reserve(better.ID)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return // abandon the task
	}

	// (3) Mutate and train outside any transaction; (4) insert the child.
	child := &store.Individual{ID: dna.ID{3}, Parent: parent.ID, Fitness: 0.75,
		Mutation: "identity", Born: now.Add(time.Minute)}
	err = s.Update(func(tx *store.Tx) error { return tx.Insert(child, weights) })
	if err != nil {
		panic(err)
	}
	c, _ := s.Counters()
	fmt.Printf("trained %d, killed %d, births %d, events %d\n", c.Trained, c.Killed, c.Births, c.Events)
	// Output: trained 3, killed 1, births 3, events 4
}
