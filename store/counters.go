package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/dgraph-io/badger/v4"
)

// Counters are the run's totals on this node. Each changes in the same
// transaction as what it counts.
type Counters struct {
	Trained     uint64  // trained_total: locally trained individuals inserted
	Killed      uint64  // killed_total: individuals killed
	Abandoned   uint64  // abandoned_total: tasks given up (conflicts, interrupted trainings)
	Errors      uint64  // errors_total: trainings that went wrong
	MigrantsIn  uint64  // migrants_in: immigrants inserted
	MigrantsOut uint64  // migrants_out: emigrations recorded
	FLOPs       float64 // flops_total: training and evaluation FLOPs spent here
	// TrainingSeconds is training_seconds_total: the wall time the
	// trainings recorded here took (the records' TrainSeconds), whatever
	// daemon ran them.
	TrainingSeconds float64
	Births          uint64 // births_seq: the last birth sequence number given
	Events          uint64 // events_seq: the last event sequence number given
}

// Counter names one of the counters that AddCounter may change.
type Counter string

// Counters that AddCounter accepts. Births and Events are maintained by the
// store alone.
const (
	CounterTrained     Counter = "trained_total"
	CounterKilled      Counter = "killed_total"
	CounterAbandoned   Counter = "abandoned_total"
	CounterErrors      Counter = "errors_total"
	CounterMigrantsIn  Counter = "migrants_in"
	CounterMigrantsOut Counter = "migrants_out"
	CounterFLOPs       Counter = "flops_total"
)

// countersVersion is the version of the JSON encoding of Counters.
const countersVersion = 1

type countersRecord struct {
	V           int     `json:"v"`
	Trained     uint64  `json:"trained_total"`
	Killed      uint64  `json:"killed_total"`
	Abandoned   uint64  `json:"abandoned_total"`
	Errors      uint64  `json:"errors_total"`
	MigrantsIn  uint64  `json:"migrants_in"`
	MigrantsOut uint64  `json:"migrants_out"`
	FLOPs       float64 `json:"flops_total"`
	Training    float64 `json:"training_seconds_total,omitempty"`
	Births      uint64  `json:"births_seq"`
	Events      uint64  `json:"events_seq"`
}

// counters returns the transaction's working copy of the counters, reading
// them on first use. Update writes it back before committing if changed.
func (tx *Tx) counters() (*Counters, error) {
	if tx.cnt != nil {
		return tx.cnt, nil
	}
	c := &Counters{}
	item, err := tx.txn.Get(keyCounters)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		// a new repo: all zero
	case err != nil:
		return nil, wrapBadger("read counters", err)
	default:
		v, err := item.ValueCopy(nil)
		if err != nil {
			return nil, wrapBadger("read counters", err)
		}
		var r countersRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, fmt.Errorf("%w: counters: %w", ErrCorrupt, err)
		}
		if r.V != countersVersion {
			return nil, fmt.Errorf("%w: counters: version %d, this build reads %d", ErrCorrupt, r.V, countersVersion)
		}
		*c = Counters{Trained: r.Trained, Killed: r.Killed, Abandoned: r.Abandoned, Errors: r.Errors,
			MigrantsIn: r.MigrantsIn, MigrantsOut: r.MigrantsOut, FLOPs: r.FLOPs,
			TrainingSeconds: r.Training, Births: r.Births, Events: r.Events}
	}
	tx.cnt = c
	return c, nil
}

// flushCounters writes the working copy back if it changed.
func (tx *Tx) flushCounters() error {
	if !tx.countersDirty {
		return nil
	}
	c := tx.cnt
	b, err := json.Marshal(&countersRecord{V: countersVersion, Trained: c.Trained, Killed: c.Killed,
		Abandoned: c.Abandoned, Errors: c.Errors, MigrantsIn: c.MigrantsIn, MigrantsOut: c.MigrantsOut,
		FLOPs: c.FLOPs, Training: c.TrainingSeconds, Births: c.Births, Events: c.Events})
	if err != nil {
		return fmt.Errorf("store: encode counters: %w", err)
	}
	return tx.set(keyCounters, b, "write counters")
}

// Counters returns the counters as this transaction sees them, its own
// changes included.
func (tx *Tx) Counters() (Counters, error) {
	c, err := tx.counters()
	if err != nil {
		return Counters{}, err
	}
	return *c, nil
}

// Counters returns the committed counters.
func (s *Store) Counters() (Counters, error) {
	var c Counters
	err := s.View(func(tx *Tx) error {
		var err error
		c, err = tx.Counters()
		return err
	})
	return c, err
}

// AddCounter adds delta to the counter named c, e.g. CounterAbandoned after
// a conflict, or CounterFLOPs for the compute an abandoned child used. A
// delta that would take a counter below zero is refused.
func (tx *Tx) AddCounter(c Counter, delta int64) error {
	if err := tx.writable("add to counter"); err != nil {
		return err
	}
	cnt, err := tx.counters()
	if err != nil {
		return err
	}
	if c == CounterFLOPs {
		f := cnt.FLOPs + float64(delta)
		if f < 0 || math.IsInf(f, 0) {
			return fmt.Errorf("%w: %s %v + %d", ErrInvalid, c, cnt.FLOPs, delta)
		}
		cnt.FLOPs = f
		tx.countersDirty = true
		return nil
	}
	var p *uint64
	switch c {
	case CounterTrained:
		p = &cnt.Trained
	case CounterKilled:
		p = &cnt.Killed
	case CounterAbandoned:
		p = &cnt.Abandoned
	case CounterErrors:
		p = &cnt.Errors
	case CounterMigrantsIn:
		p = &cnt.MigrantsIn
	case CounterMigrantsOut:
		p = &cnt.MigrantsOut
	default:
		return fmt.Errorf("%w: counter %q: want one of trained_total, killed_total, abandoned_total, "+
			"errors_total, migrants_in, migrants_out, flops_total", ErrInvalid, c)
	}
	if delta < 0 && uint64(-delta) > *p {
		return fmt.Errorf("%w: %s is %d: cannot add %d", ErrInvalid, c, *p, delta)
	}
	*p += uint64(delta)
	tx.countersDirty = true
	return nil
}
