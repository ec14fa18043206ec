package store

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Verify checks, in one snapshot, that the store is consistent: every
// record, the counters and the seed decode; the alive and training indexes, the weights and the
// statuses agree; birth sequence numbers are unique; the counters match the
// records (births, trained, migrants in, killed; errors and FLOPs at least
// what the records account for); events are numbered 1..Events without a
// gap, with one birth or immigration event per birth and one death event
// per kill; every weights blob passes its checksum (all weights are read).
// It returns every problem found, joined, each on one line and wrapping
// ErrCorrupt, or nil.
func (s *Store) Verify() error {
	return s.View(func(tx *Tx) error { return tx.verify() })
}

func (tx *Tx) verify() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...))
	}
	c, err := tx.counters()
	if err != nil {
		return err
	}
	if _, err := tx.Seed(); err != nil && !errors.Is(err, ErrNotFound) {
		errs = append(errs, err)
	}

	status := map[dna.ID]Status{}
	births := map[uint64]dna.ID{}
	var want Counters
	var recordErrors uint64
	err = tx.Individuals(func(ind *Individual) error {
		status[ind.ID] = ind.Status
		if ind.BirthSeq > 0 {
			if other, dup := births[ind.BirthSeq]; dup {
				bad("birth sequence %d given to both %s and %s", ind.BirthSeq, other.Short(), ind.ID.Short())
			}
			births[ind.BirthSeq] = ind.ID
			want.Births++
			if ind.Immigrant {
				want.MigrantsIn++
			} else {
				want.Trained++
				want.FLOPs += float64(ind.TrainFLOPs) + float64(ind.EvalFLOPs)
			}
			if ind.Status == StatusDead {
				want.Killed++
			}
		} else if ind.Status != StatusTraining {
			want.FLOPs += float64(ind.TrainFLOPs) + float64(ind.EvalFLOPs) // failed
		}
		if ind.Status == StatusAlive && ind.BirthSeq == 0 {
			bad("alive individual %s has no birth sequence", ind.ID.Short())
		}
		if ind.Error != "" {
			recordErrors++
		}
		hasW, err := tx.exists(idKey(prefixWeights, ind.ID), "verify")
		if err != nil {
			return err
		}
		if hasW != (ind.Status == StatusAlive) {
			bad("%v individual %s: weights present: %v", ind.Status, ind.ID.Short(), hasW)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return err
	}
	if err != nil {
		errs = append(errs, err)
	}

	alive, err := tx.Alive()
	if err != nil {
		errs = append(errs, err)
	}
	nAlive := 0
	for _, m := range alive {
		ind, err := tx.Get(m.ID)
		switch {
		case err != nil:
			bad("alive index lists %s: %w", m.ID.Short(), err)
		case ind.Status != StatusAlive:
			bad("alive index lists %s, which is %v", m.ID.Short(), ind.Status)
		case ind.Fitness != m.Fitness || ind.BirthSeq != m.BirthSeq:
			bad("alive index for %s says fitness %v, birth %d; the record %v, %d",
				m.ID.Short(), m.Fitness, m.BirthSeq, ind.Fitness, ind.BirthSeq)
		}
		nAlive++
	}
	training, err := tx.Training()
	if err != nil {
		errs = append(errs, err)
	}
	for _, m := range training {
		if st := status[m.ID]; st != StatusTraining {
			bad("training index lists %s, which is %v", m.ID.Short(), st)
		}
	}
	nTraining := 0
	for _, st := range status {
		switch st {
		case StatusAlive:
			nAlive--
		case StatusTraining:
			nTraining++
		}
	}
	if nAlive != 0 {
		bad("alive index and records differ by %d", nAlive)
	}
	if nTraining != len(training) {
		bad("%d records in training, %d in the training index", nTraining, len(training))
	}
	var damaged []string
	var firstDamage error
	err = tx.scanIDs(prefixWeights, false, func(id dna.ID, _ []byte) error {
		if st := status[id]; st != StatusAlive {
			bad("weights stored for %s, which is %v", id.Short(), st)
		}
		// Read and check every blob: one at a time, in this snapshot.
		if _, err := tx.Weights(id); err != nil {
			damaged = append(damaged, id.Short())
			if firstDamage == nil {
				firstDamage = err
			}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if len(damaged) > 0 {
		// One line, however many: damage in the value log often takes
		// every blob after it.
		const show = 8
		list := strings.Join(damaged[:min(len(damaged), show)], ", ")
		if len(damaged) > show {
			list += fmt.Sprintf(" and %d more", len(damaged)-show)
		}
		bad("weights of %d of %d alive individuals are damaged (%s); the first: %s",
			len(damaged), len(alive), list, oneLine(firstDamage.Error()))
	}

	if c.Births != want.Births || c.Trained != want.Trained || c.MigrantsIn != want.MigrantsIn || c.Killed != want.Killed {
		bad("counters say births %d, trained %d, migrants in %d, killed %d; records say %d, %d, %d, %d",
			c.Births, c.Trained, c.MigrantsIn, c.Killed, want.Births, want.Trained, want.MigrantsIn, want.Killed)
	}
	if c.Errors < recordErrors {
		bad("errors_total is %d, but %d records hold an error", c.Errors, recordErrors)
	}
	if c.FLOPs < want.FLOPs*(1-1e-9) || math.IsNaN(c.FLOPs) {
		bad("flops_total is %g, but the records account for %g", c.FLOPs, want.FLOPs)
	}
	// training_seconds_total is not checked against the records' sum: a
	// build from before it rewrites the counters without it, so a repo
	// such a build ran holds less, and is not damaged for that.

	var next uint64 = 1
	var birthEvents, deathEvents uint64
	err = tx.Events(1, func(ev Event) error {
		if ev.Seq != next {
			bad("event %d follows event %d", ev.Seq, next-1)
		}
		next = ev.Seq + 1
		switch ev.Type {
		case EventBirth, EventImmigration:
			birthEvents++
		case EventDeath:
			deathEvents++
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if next-1 != c.Events {
		bad("events_seq is %d, the last event is %d", c.Events, next-1)
	}
	if birthEvents != c.Births || deathEvents != c.Killed {
		bad("%d birth and %d death events for births %d, killed %d", birthEvents, deathEvents, c.Births, c.Killed)
	}
	if err := tx.verifyLineage(); err != nil {
		errs = append(errs, err)
	}
	if err := tx.verifyPeers(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
