package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Insert adds ind to the population, alive, with its weights. ind.ID must
// be new, or that of a record in training (which Insert completes). Insert
// sets ind.Status to alive and ind.BirthSeq to the next birth sequence
// number, appends a birth event (an immigration event if ind.Immigrant) and
// counts it: trained_total, flops_total (its TrainFLOPs + EvalFLOPs) and
// training_seconds_total (its TrainSeconds) for a local individual, migrants_in for an immigrant, whose FLOPs were spent
// elsewhere. If ind.Error is set (a diverged child, kept with fitness 0 as
// the paper does), it also appends an error event and counts errors_total.
// An ID already recorded, alive or dead, gives ErrExists; ind.Status dead,
// or weights that do not end with the SHA-256 of the bytes before them
// (train's encoding does), give ErrInvalid.
func (tx *Tx) Insert(ind *Individual, weights []byte) error {
	if err := tx.writable("insert"); err != nil {
		return err
	}
	if ind.Status == StatusDead {
		return fmt.Errorf("%w: insert %s with status %v: Insert makes individuals alive", ErrInvalid, ind.ID.Short(), ind.Status)
	}
	old, err := tx.Get(ind.ID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	case old.Status == StatusTraining:
		if err := tx.delete(idKey(prefixTraining, ind.ID), "insert "+ind.ID.Short()); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: %s is already recorded (%v)", ErrExists, ind.ID.Short(), old.Status)
	}
	c, err := tx.counters()
	if err != nil {
		return err
	}
	ind.Status, ind.BirthSeq = StatusAlive, c.Births+1
	ind.Died, ind.DeathReason = time.Time{}, ""
	if err := tx.putRecord(ind); err != nil { // validates ind first
		return err
	}
	c.Births = ind.BirthSeq
	tx.countersDirty = true
	if err := tx.set(idKey(prefixAlive, ind.ID), encodeMember(ind), "insert "+ind.ID.Short()); err != nil {
		return err
	}
	if err := checkWeights(weights); err != nil {
		return fmt.Errorf("%w: insert %s: weights: %w", ErrInvalid, ind.ID.Short(), err)
	}
	if err := tx.set(idKey(prefixWeights, ind.ID), weights, "insert weights of "+ind.ID.Short()); err != nil {
		return err
	}
	kind := EventBirth
	if ind.Immigrant {
		kind = EventImmigration
		c.MigrantsIn++
	} else {
		c.Trained++
		c.FLOPs += float64(ind.TrainFLOPs) + float64(ind.EvalFLOPs)
		c.TrainingSeconds += ind.TrainSeconds
	}
	if err := tx.AppendEvent(eventFor(kind, ind, ind.Born, "")); err != nil {
		return err
	}
	if ind.Error != "" {
		c.Errors++
		return tx.AppendEvent(eventFor(EventError, ind, ind.Born, ind.Error))
	}
	return nil
}

// StartTraining records ind, not yet trained, with status training and no
// weights: Training lists it, Alive does not return it (selection and the
// set-point see only the alive: the paper's population of trained models). ind.Born should be when training started; Insert
// later replaces the record. No event is logged until then.
func (tx *Tx) StartTraining(ind *Individual) error {
	if err := tx.writable("start training"); err != nil {
		return err
	}
	if _, err := tx.Get(ind.ID); err == nil {
		return fmt.Errorf("%w: %s is already recorded", ErrExists, ind.ID.Short())
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	ind.Status, ind.BirthSeq = StatusTraining, 0
	if err := tx.putRecord(ind); err != nil {
		return err
	}
	return tx.set(idKey(prefixTraining, ind.ID), nil, "start training "+ind.ID.Short())
}

// Kill marks the alive individual id dead at time at for reason, deletes
// its weights, appends a death event and counts killed_total. The record is
// kept. If id is no longer alive, Kill fails with ErrNotAlive (a conflict:
// another worker killed it first).
func (tx *Tx) Kill(id dna.ID, reason string, at time.Time) error {
	if err := tx.writable("kill"); err != nil {
		return err
	}
	ind, err := tx.Get(id)
	if err != nil {
		return err
	}
	if ind.Status != StatusAlive {
		return fmt.Errorf("%w: kill %s: it is %v", ErrNotAlive, id.Short(), ind.Status)
	}
	if err := tx.die(ind, reason, at); err != nil {
		return err
	}
	if err := tx.delete(idKey(prefixAlive, id), "kill "+id.Short()); err != nil {
		return err
	}
	if err := tx.delete(idKey(prefixWeights, id), "kill "+id.Short()); err != nil {
		return err
	}
	c, err := tx.counters()
	if err != nil {
		return err
	}
	c.Killed++
	return tx.AppendEvent(eventFor(EventDeath, ind, at, reason))
}

// die rewrites ind's record as dead.
func (tx *Tx) die(ind *Individual, reason string, at time.Time) error {
	ind.Status, ind.Died, ind.DeathReason = StatusDead, at, reason
	return tx.putRecord(ind)
}

// Reserve returns the record and weights of the alive individual id, to be
// a parent. Read in the same Update as the kill of its rival, they are the
// state that won the tournament. If id is no longer alive, Reserve fails
// with ErrNotAlive (a conflict); if its weights fail their checksum, with
// ErrBadWeights. Reserve writes nothing.
func (tx *Tx) Reserve(id dna.ID) (*Individual, []byte, error) {
	ind, err := tx.Get(id)
	if err != nil {
		return nil, nil, err
	}
	if ind.Status != StatusAlive {
		return nil, nil, fmt.Errorf("%w: reserve %s: it is %v", ErrNotAlive, id.Short(), ind.Status)
	}
	w, err := tx.Weights(id)
	if errors.Is(err, ErrBadWeights) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: alive individual %s has no weights: %w", ErrCorrupt, id.Short(), err)
	}
	return ind, w, nil
}

// Abandon marks the individual id, in training, dead at time at for reason
// (e.g. "interrupted by a restart"), appends an abandon event and counts
// abandoned_total; the FLOPs and training seconds its record holds are
// added to flops_total and training_seconds_total.
func (tx *Tx) Abandon(id dna.ID, reason string, at time.Time) error {
	if err := tx.writable("abandon"); err != nil {
		return err
	}
	ind, err := tx.Get(id)
	if err != nil {
		return err
	}
	if ind.Status != StatusTraining {
		return fmt.Errorf("%w: abandon %s: it is %v, not in training", ErrInvalid, id.Short(), ind.Status)
	}
	if err := tx.die(ind, reason, at); err != nil {
		return err
	}
	if err := tx.delete(idKey(prefixTraining, id), "abandon "+id.Short()); err != nil {
		return err
	}
	c, err := tx.counters()
	if err != nil {
		return err
	}
	c.Abandoned++
	c.FLOPs += float64(ind.TrainFLOPs) + float64(ind.EvalFLOPs)
	c.TrainingSeconds += ind.TrainSeconds
	return tx.AppendEvent(eventFor(EventAbandon, ind, at, reason))
}

// Fail records that training ind failed for reason (say, out of memory):
// ind, in training or not yet recorded, is stored dead with Error and
// DeathReason set to reason, an error event is appended, errors_total is
// counted, and its TrainFLOPs + EvalFLOPs and TrainSeconds are added to
// flops_total and training_seconds_total. (A child
// whose loss merely diverged is inserted alive with fitness 0 instead.)
func (tx *Tx) Fail(ind *Individual, reason string, at time.Time) error {
	if err := tx.writable("fail"); err != nil {
		return err
	}
	old, err := tx.Get(ind.ID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	case old.Status == StatusTraining:
		if err := tx.delete(idKey(prefixTraining, ind.ID), "fail "+ind.ID.Short()); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: fail %s: it is %v", ErrExists, ind.ID.Short(), old.Status)
	}
	ind.BirthSeq = 0
	if ind.Error == "" {
		ind.Error = reason
	}
	if err := tx.die(ind, reason, at); err != nil {
		return err
	}
	c, err := tx.counters()
	if err != nil {
		return err
	}
	c.Errors++
	c.FLOPs += float64(ind.TrainFLOPs) + float64(ind.EvalFLOPs)
	c.TrainingSeconds += ind.TrainSeconds
	tx.countersDirty = true
	return tx.AppendEvent(eventFor(EventError, ind, at, reason))
}

// Emigrate records that a copy of the individual id was sent to peer at
// time at: it appends an emigration event and counts migrants_out. The
// individual itself stays as it is.
func (tx *Tx) Emigrate(id dna.ID, peer string, at time.Time) error {
	if err := tx.writable("emigrate"); err != nil {
		return err
	}
	ind, err := tx.Get(id)
	if err != nil {
		return err
	}
	c, err := tx.counters()
	if err != nil {
		return err
	}
	c.MigrantsOut++
	return tx.AppendEvent(eventFor(EventEmigration, ind, at, "to "+peer))
}

// AbandonTraining abandons every individual left in training, e.g. by a
// crash, with reason and time at, and returns how many there were. It
// commits in transactions of at most abandonBatch, so that a node with
// many workers does not exceed Badger's transaction size. Call it at
// start-up, before the workers, unless the node trains them again instead.
func (s *Store) AbandonTraining(reason string, at time.Time) (int, error) {
	n := 0
	for {
		done := 0
		err := s.Update(func(tx *Tx) error {
			ms, err := tx.Training()
			if err != nil {
				return err
			}
			for _, m := range ms[:min(len(ms), abandonBatch)] {
				if err := tx.Abandon(m.ID, reason, at); err != nil {
					return err
				}
				done++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += done
		if done < abandonBatch {
			return n, nil
		}
	}
}

// abandonBatch is how many trainings AbandonTraining abandons in one
// transaction: each writes the record and an event, a few kB.
const abandonBatch = 64
