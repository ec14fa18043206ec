package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
	"github.com/evoswarm/evoswarm/store"
	"github.com/evoswarm/evoswarm/train"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/evoswarm/evoswarm/train/device"
)

// population adapts the store to the island's Population.
type population struct {
	s *store.Store
}

var _ island.Population = population{}

// conflict maps the store's conflicts to the island's: an individual no
// longer alive, or one already recorded (bred twice), ends the task.
func conflict(err error) error {
	switch {
	case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists):
		return fmt.Errorf("%w: %w", island.ErrConflict, err)
	case errors.Is(err, store.ErrInvalid):
		return fmt.Errorf("%w: %w", island.ErrRefused, err)
	}
	return err
}

func (p population) Alive() ([]island.Member, error) {
	var ms []store.Member
	err := p.s.View(func(tx *store.Tx) error {
		var err error
		ms, err = tx.Alive()
		return err
	})
	out := make([]island.Member, len(ms))
	for i, m := range ms {
		out[i] = island.Member{ID: m.ID, Fitness: m.Fitness, Born: m.BirthSeq}
	}
	return out, err
}

func (p population) Tournament(parent dna.ID, victim *dna.ID, at time.Time) (island.Reserved, error) {
	var rec *store.Individual
	var w []byte
	err := p.s.Update(func(tx *store.Tx) error {
		var err error
		if rec, w, err = tx.Reserve(parent); err != nil {
			return err
		}
		// Room for the child (about its parent's weights) or no kill.
		tx.Expect(int64(len(w)))
		if victim != nil {
			return tx.Kill(*victim, "lost a tournament to "+parent.Short(), at)
		}
		return nil
	})
	if errors.Is(err, store.ErrBadWeights) {
		// The parent's weights were damaged at rest: never breed from
		// them. Record it dead (the rival lives: the transaction was
		// undone) and abandon the task; the workers go on with what is
		// intact.
		if qerr := p.s.Quarantine(parent, err, at); qerr != nil {
			if errors.Is(qerr, store.ErrIntactOnRetry) {
				// A read that raced the value-log GC: nothing is damaged.
				// Abandon this task (the rival lives); the parent breeds
				// again in a later tournament.
				return island.Reserved{}, fmt.Errorf("%w: %w", island.ErrConflict, qerr)
			}
			return island.Reserved{}, conflict(qerr)
		}
		return island.Reserved{}, fmt.Errorf("%w: %w", island.ErrConflict, err)
	}
	if err != nil {
		return island.Reserved{}, conflict(err)
	}
	g, err := dna.DecodeBinary(rec.Genome)
	if err != nil {
		return island.Reserved{}, fmt.Errorf("node: stored genome %s: %w", parent.Short(), err)
	}
	return island.Reserved{Genome: g, Weights: w, Origin: rec.Origin}, nil
}

// The island hands the population the one model of an individual, which
// is the store's record: each call stores a copy, so that what the store
// sets (status, birth sequence) stays in the transaction that set it.

func (p population) Begin(ind *individual.Individual) error {
	rec := *ind
	return conflict(p.s.Update(func(tx *store.Tx) error { return tx.StartTraining(&rec) }))
}

func (p population) Insert(ind *individual.Individual, weights []byte) error {
	rec := *ind
	return p.s.Update(func(tx *store.Tx) error { return tx.Insert(&rec, weights) })
}

func (p population) Fail(ind *individual.Individual, reason string) error {
	rec := *ind
	return p.s.Update(func(tx *store.Tx) error { return tx.Fail(&rec, reason, time.Now()) })
}

func (p population) Abandoned() error {
	return p.s.Update(func(tx *store.Tx) error { return tx.AddCounter(store.CounterAbandoned, 1) })
}

func (p population) Immigrate(ind *individual.Individual, weights []byte, victim *dna.ID, reason string, at time.Time) error {
	rec := *ind
	return conflict(p.s.Update(func(tx *store.Tx) error {
		if victim != nil {
			if err := tx.Kill(*victim, reason, at); err != nil {
				return err
			}
		}
		return tx.Insert(&rec, weights) // ErrExists undoes the kill
	}))
}

func (p population) Emigrated(id dna.ID, to string) error {
	return p.s.Update(func(tx *store.Tx) error { return tx.Emigrate(id, to, time.Now()) })
}

func (p population) Weights(id dna.ID) ([]byte, error) {
	var w []byte
	err := p.s.View(func(tx *store.Tx) error {
		var err error
		w, err = tx.Weights(id)
		return err
	})
	return w, err
}

func (p population) Births() (uint64, error) {
	c, err := p.s.Counters()
	return c.Births, err
}

// trainer adapts the training engine to the island's Trainer.
type trainer struct {
	data *dataset.Set
	cfg  train.Config
	// devs, when not nil, holds the node's idle GPUs: each Train call
	// takes one for its run and gives it back, so that one worker per GPU
	// trains on its own device.
	devs chan device.Device
}

// newTrainer returns the trainer over devs, or the CPU trainer when there
// are none.
func newTrainer(data *dataset.Set, cfg train.Config, devs []device.Device) trainer {
	t := trainer{data: data, cfg: cfg}
	if len(devs) > 0 {
		t.devs = make(chan device.Device, len(devs))
		for _, d := range devs {
			t.devs <- d
		}
	}
	return t
}

// maxWeightBytes bounds a weights blob by the experiment's parameter bound:
// 4 bytes per parameter plus the running statistics and the framing.
func maxWeightBytes(b dna.Bounds) int {
	return int(min(8*b.MaxParams+1<<20, 1<<31-1))
}

// maxValueBytes is the largest weights blob the experiment's store must
// take (its value-log files are sized for it).
func maxValueBytes(exp *Experiment) int64 {
	return min(int64(maxWeightBytes(exp.Train.Bounds)), store.MaxMaxValueBytes)
}

func (t trainer) Train(ctx context.Context, g *dna.Genome, parentWeights []byte, seed uint64) (*island.Outcome, error) {
	start := time.Now()
	var parent *train.Weights
	if parentWeights != nil {
		var err error
		if parent, err = train.DecodeWeights(parentWeights, maxWeightBytes(t.cfg.Bounds)); err != nil {
			return nil, err
		}
	}
	opt := train.RunOptions{Seed: seed}
	if t.devs != nil {
		select {
		case opt.Device = <-t.devs:
			defer func() { t.devs <- opt.Device }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	before := time.Since(start) // decoding the parent's weights, waiting for a device
	res, err := train.Train(ctx, g, parent, t.data, t.cfg, opt)
	if err != nil {
		return nil, err
	}
	wb, err := res.Weights.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &island.Outcome{
		Fitness: res.ValAccuracy, Weights: wb, Steps: int64(res.Steps), Params: g.Params(),
		TrainFLOPs: res.TrainFLOPs, EvalFLOPs: res.EvalFLOPs,
		Inherited: island.Inherited{Whole: res.InheritedParams, Sliced: res.SlicedParams, New: res.NewParams},
		Diverged:  res.Diverged, Reason: res.Reason,
		BuildTime: before + seconds(res.BuildSeconds), TrainTime: seconds(res.Seconds), EvalTime: seconds(res.EvalSeconds),
	}, nil
}

// seconds converts the training engine's seconds to a Duration.
func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}
