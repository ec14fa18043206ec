package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
)

// Status is where an individual is in its life: the one model's
// (individual.Status), named here for the store's callers.
type Status = individual.Status

// Statuses.
const (
	// StatusTraining: recorded by StartTraining, being trained; counts
	// towards the population but cannot be picked.
	StatusTraining = individual.Training
	// StatusAlive: trained, evaluated, a member of the population.
	StatusAlive = individual.Alive
	// StatusDead: killed, failed or abandoned; the record stays, the
	// weights are gone.
	StatusDead = individual.Dead
)

// Individual is the record of one individual: the one model
// (individual.Individual), which the store keeps in its own versioned
// encoding (record). It never holds weights, which are stored apart
// (Tx.Weights).
type Individual = individual.Individual

// Member is the light view of an individual that Alive and Training list.
type Member struct {
	ID       dna.ID
	Fitness  float64 // 0 for a member in training
	BirthSeq uint64  // 0 for a member in training
	Status   Status
}

// recordVersion is the version of the JSON encoding of an Individual.
const recordVersion = 1

// record is the stored form of an Individual. Its FLOPs are JSON numbers
// written from float64, as they always were: an Individual's int64 FLOPs
// are converted on the way in and out, so that records stay byte for byte
// what earlier builds wrote and read.
type record struct {
	V            int       `json:"v"`
	ID           string    `json:"id"`
	Genome       []byte    `json:"genome"`
	Fitness      float64   `json:"fitness"`
	TestAccuracy *float64  `json:"test_accuracy,omitempty"`
	Status       string    `json:"status"`
	Born         time.Time `json:"born"`
	Died         time.Time `json:"died,omitzero"`
	BirthSeq     uint64    `json:"birth_seq,omitempty"`
	Parent       string    `json:"parent,omitempty"`
	Mutation     string    `json:"mutation,omitempty"`
	Origin       string    `json:"origin,omitempty"`
	Immigrant    bool      `json:"immigrant,omitempty"`
	Claimed      float64   `json:"claimed_fitness,omitempty"`
	Params       int64     `json:"params"`
	TrainFLOPs   float64   `json:"train_flops"`
	EvalFLOPs    float64   `json:"eval_flops"`
	TrainSeconds float64   `json:"train_seconds,omitempty"`
	Steps        int64     `json:"steps"`
	Inherited    int64     `json:"inherited_params,omitempty"`
	Sliced       int64     `json:"sliced_params,omitempty"`
	New          int64     `json:"new_params,omitempty"`
	Error        string    `json:"error,omitempty"`
	DeathReason  string    `json:"death_reason,omitempty"`
}

// check reports why ind cannot be stored, naming the field and value.
func check(ind *Individual) error {
	short := ind.ID.Short()
	for _, f := range []struct {
		name string
		v    float64
	}{{"fitness", ind.Fitness}, {"claimed fitness", ind.ClaimedFitness}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%w: individual %s: %s is %v: give a diverged child fitness 0 and record the cause in Error",
				ErrInvalid, short, f.name, f.v)
		}
	}
	if !(ind.TrainSeconds >= 0) || math.IsInf(ind.TrainSeconds, 0) {
		return fmt.Errorf("%w: individual %s: training seconds is %v: want a finite duration, zero or more", ErrInvalid, short, ind.TrainSeconds)
	}
	if ind.HasTest && (math.IsNaN(ind.TestAccuracy) || math.IsInf(ind.TestAccuracy, 0)) {
		return fmt.Errorf("%w: individual %s: test accuracy is %v: leave HasTest false when it was not measured",
			ErrInvalid, short, ind.TestAccuracy)
	}
	if ind.Born.IsZero() {
		return fmt.Errorf("%w: individual %s has no birth time", ErrInvalid, short)
	}
	if !ind.Status.Valid() {
		return fmt.Errorf("%w: individual %s: unknown %v", ErrInvalid, short, ind.Status)
	}
	return nil
}

func encodeIndividual(ind *Individual) ([]byte, error) {
	if err := check(ind); err != nil {
		return nil, err
	}
	r := record{
		V:            recordVersion,
		ID:           ind.ID.String(),
		Genome:       ind.Genome,
		Fitness:      ind.Fitness,
		Status:       ind.Status.String(),
		Born:         ind.Born.UTC(),
		BirthSeq:     ind.BirthSeq,
		Mutation:     ind.Mutation,
		Origin:       ind.Origin,
		Immigrant:    ind.Immigrant,
		Claimed:      ind.ClaimedFitness,
		Params:       ind.Params,
		TrainFLOPs:   float64(ind.TrainFLOPs),
		EvalFLOPs:    float64(ind.EvalFLOPs),
		TrainSeconds: ind.TrainSeconds,
		Steps:        ind.Steps,
		Inherited:    ind.InheritedParams,
		Sliced:       ind.SlicedParams,
		New:          ind.NewParams,
		Error:        ind.Error,
		DeathReason:  ind.DeathReason,
	}
	if !ind.Died.IsZero() {
		r.Died = ind.Died.UTC()
	}
	if !ind.Parent.IsZero() {
		r.Parent = ind.Parent.String()
	}
	if ind.HasTest {
		r.TestAccuracy = &ind.TestAccuracy
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return nil, fmt.Errorf("%w: individual %s: %w", ErrInvalid, ind.ID.Short(), err)
	}
	return b, nil
}

// decodeIndividual decodes the record stored under key's ID.
func decodeIndividual(id dna.ID, b []byte) (*Individual, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: individual %s: %w", ErrCorrupt, id, err)
	}
	if r.V != recordVersion {
		return nil, fmt.Errorf("%w: individual %s: record version %d, this build reads %d",
			ErrCorrupt, id, r.V, recordVersion)
	}
	if r.TrainSeconds < 0 {
		return nil, fmt.Errorf("%w: individual %s: training seconds %v", ErrCorrupt, id, r.TrainSeconds)
	}
	got, err := dna.ParseID(r.ID)
	if err != nil || got != id {
		return nil, fmt.Errorf("%w: individual %s: record holds id %q", ErrCorrupt, id, r.ID)
	}
	st, err := individual.ParseStatus(r.Status)
	if err != nil {
		return nil, fmt.Errorf("%w: individual %s: unknown status %q", ErrCorrupt, id, r.Status)
	}
	ind := &Individual{
		ID:             id,
		Genome:         r.Genome,
		Fitness:        r.Fitness,
		Status:         st,
		Born:           r.Born,
		Died:           r.Died,
		BirthSeq:       r.BirthSeq,
		Mutation:       r.Mutation,
		Origin:         r.Origin,
		Immigrant:      r.Immigrant,
		ClaimedFitness: r.Claimed,
		Params:         r.Params,
		TrainFLOPs:     int64(r.TrainFLOPs),
		EvalFLOPs:      int64(r.EvalFLOPs),
		TrainSeconds:   r.TrainSeconds,
		Steps:          r.Steps,
		Error:          r.Error,
		DeathReason:    r.DeathReason,
	}
	ind.InheritedParams, ind.SlicedParams, ind.NewParams = r.Inherited, r.Sliced, r.New
	if r.Parent != "" {
		if ind.Parent, err = dna.ParseID(r.Parent); err != nil {
			return nil, fmt.Errorf("%w: individual %s: parent: %w", ErrCorrupt, id, err)
		}
	}
	if r.TestAccuracy != nil {
		ind.TestAccuracy, ind.HasTest = *r.TestAccuracy, true
	}
	return ind, nil
}

// Alive index entries: version byte, fitness (float64 bits), birth sequence.
const (
	memberVersion = 1
	memberSize    = 1 + 8 + 8
)

func encodeMember(ind *Individual) []byte {
	b := make([]byte, 1, memberSize)
	b[0] = memberVersion
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(ind.Fitness))
	return binary.BigEndian.AppendUint64(b, ind.BirthSeq)
}

func decodeMember(id dna.ID, b []byte) (Member, error) {
	if len(b) != memberSize || b[0] != memberVersion {
		return Member{}, fmt.Errorf("%w: alive index entry for %s: %d bytes, version %v",
			ErrCorrupt, id, len(b), b[:min(len(b), 1)])
	}
	return Member{
		ID:       id,
		Fitness:  math.Float64frombits(binary.BigEndian.Uint64(b[1:])),
		BirthSeq: binary.BigEndian.Uint64(b[9:]),
		Status:   StatusAlive,
	}, nil
}
