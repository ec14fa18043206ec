package node

import (
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
)

// The views of one individual. The model is individual.Individual (the
// store's record, store.Individual); what the API, the CLI and the
// dashboard show of it are views, each built here from the model by one
// adapter: Summary (summaryOf), Best (bestOf), Ancestor (ancestorOf, from
// a step of a lineage walk, which holds the record for this node's own
// steps) and the head of GenomeView (genomeViewOf). Their JSON is the
// API's; the model has none of its own.

// Summary is one individual in GET /api/v1/individuals.
type Summary struct {
	ID     string            `json:"id"`
	Status individual.Status `json:"status"` // "training", "alive" or "dead"
	// Fitness is the validation accuracy.
	Fitness   float64 `json:"val_accuracy"`
	Parent    string  `json:"parent,omitempty"`
	Mutation  string  `json:"mutation,omitempty"`
	Origin    string  `json:"origin"`
	Immigrant bool    `json:"immigrant"`
	BirthSeq  uint64  `json:"birth_seq"`
	Params    int64   `json:"params"`
	FLOPs     int64   `json:"flops"` // forward FLOPs per image
	Born      string  `json:"born"`  // RFC 3339, UTC
	Error     string  `json:"error,omitempty"`
}

// summaryOf is ind's Summary. FLOPs are its genome's per image (0 if the
// genome does not decode).
func summaryOf(ind *individual.Individual) Summary {
	sm := Summary{ID: ind.ID.String(), Status: ind.Status, Fitness: ind.Fitness, Mutation: ind.Mutation,
		Origin: ind.Origin, Immigrant: ind.Immigrant, BirthSeq: ind.BirthSeq, Params: ind.Params,
		Born: ind.Born.UTC().Format(time.RFC3339Nano), Error: ind.Error}
	if !ind.Parent.IsZero() {
		sm.Parent = ind.Parent.String()
	}
	if g, err := ind.DecodeGenome(); err == nil {
		sm.FLOPs = g.FLOPs()
	}
	return sm
}

// Best describes the fittest live individual.
type Best struct {
	ID           string  `json:"id"`
	ValAccuracy  float64 `json:"val_accuracy"`
	TestAccuracy float64 `json:"test_accuracy,omitempty"`
	Params       int64   `json:"params"`
	FLOPs        int64   `json:"flops"` // forward FLOPs per image
	Mutation     string  `json:"mutation,omitempty"`
	Origin       string  `json:"origin"`
}

// bestOf is ind's Best (ind being the fittest live individual).
func bestOf(ind *individual.Individual) *Best {
	b := &Best{ID: ind.ID.String(), ValAccuracy: ind.Fitness, Params: ind.Params, Mutation: ind.Mutation, Origin: ind.Origin}
	if ind.HasTest {
		b.TestAccuracy = ind.TestAccuracy
	}
	if g, err := ind.DecodeGenome(); err == nil {
		b.FLOPs = g.FLOPs()
	}
	return b
}

// StepStatus is the status of a step of a lineage: the status of this
// node's record of it (StepTraining, StepAlive, StepDead: an
// individual.Status by its name), StepRemote or StepUnknown. It is a
// string, not an individual.Status, because a lineage also holds steps
// that are no record here, and a daemon of another build may name a step
// otherwise (StepElsewhere).
type StepStatus string

// Statuses of the steps of a lineage.
const (
	StepTraining StepStatus = "training" // individual.Training's name
	StepAlive    StepStatus = "alive"    // individual.Alive's name
	StepDead     StepStatus = "dead"     // individual.Dead's name
	// StepRemote: a step that lived on another node, as the chain an
	// immigrant came with tells it.
	StepRemote StepStatus = "remote"
	// StepUnknown: an ancestor whose own ancestry is unknown here (the
	// sender of an immigrant did not give its chain, or the chain was cut
	// to its newest gossip.MaxLineageSteps); it ends the lineage.
	StepUnknown StepStatus = "unknown"
	// StepElsewhere is what a daemon of an older build called an
	// ancestor that lived on another node, whose ancestry was unknown
	// here: read as StepUnknown. No step of this build has it.
	StepElsewhere StepStatus = "elsewhere"
)

// String returns the status's name, as JSON shows it.
func (s StepStatus) String() string { return string(s) }

// stepStatusOf is the status of a step that is this node's record.
func stepStatusOf(s individual.Status) StepStatus {
	switch s {
	case individual.Training:
		return StepTraining
	case individual.Alive:
		return StepAlive
	case individual.Dead:
		return StepDead
	}
	return StepStatus(s.String()) // not stored: the store refuses other statuses
}

// Ancestor is one step of a lineage.
type Ancestor struct {
	ID string `json:"id"`
	// Parent is its parent's ID (absent for an initial individual).
	Parent   string  `json:"parent,omitempty"`
	Mutation string  `json:"mutation"`
	Fitness  float64 `json:"val_accuracy"`
	// Status is this node's record's (StepAlive, StepDead, StepTraining),
	// StepRemote for a step that lived on another node (as the chain an
	// immigrant came with tells it), or StepUnknown for the ancestor where
	// the known chain ends (ChainUnknown).
	Status StepStatus `json:"status"`
	Born   time.Time  `json:"born"`
	Origin string     `json:"origin"`
	// Node is the peer ID of the node it lived on: this node's for its own
	// records, the sender's for the steps of a chain that came with an
	// immigrant; absent where unknown. A migration shows as the same
	// individual twice: on its sender, then Immigrant on its receiver.
	Node      string `json:"node,omitempty"`
	Immigrant bool   `json:"immigrant"`
	// ChainUnknown marks the ancestor where the known chain ends: its own
	// ancestry was not given (an immigrant's sender did not answer, an
	// immigrant from before chains were kept, or a chain cut to its newest
	// steps). Only its ID is known.
	ChainUnknown bool  `json:"chain_unknown,omitempty"`
	Params       int64 `json:"params"`
	// InheritedParams, SlicedParams and NewParams count its values by
	// where they came from: its parent's, whole or (partial inheritance)
	// sliced, or new. Absent where not recorded (an immigrant, a record
	// from before they were, another node's step).
	InheritedParams int64 `json:"inherited_params,omitempty"`
	SlicedParams    int64 `json:"sliced_params,omitempty"`
	NewParams       int64 `json:"new_params,omitempty"`
}

// Unknown reports whether a ends the known chain: ChainUnknown, or a
// step a daemon of an older build called StepElsewhere.
func (a Ancestor) Unknown() bool { return a.ChainUnknown || a.Status == StepElsewhere }

// ancestorOf turns a step of the walk into an Ancestor: what the walk
// found (the step's ID, parent, mutation, fitness, birth, node) and, for
// this node's own records, what the record adds.
func ancestorOf(st chainStep) Ancestor {
	a := Ancestor{ID: st.ID.String(), Status: st.status}
	if st.status == StepUnknown {
		a.ChainUnknown = true
		return a
	}
	if !st.Parent.IsZero() {
		a.Parent = st.Parent.String()
	}
	a.Mutation = st.Mutation
	if a.Mutation == "" {
		a.Mutation = "initial"
	}
	a.Fitness, a.Born, a.Immigrant = st.Fitness, st.Born, st.Immigrant
	if st.Node != "" {
		a.Node = st.Node.String()
	}
	if rec := st.rec; rec != nil {
		a.Origin, a.Params = rec.Origin, rec.Params
		a.InheritedParams, a.SlicedParams, a.NewParams = rec.InheritedParams, rec.SlicedParams, rec.NewParams
	}
	return a
}

// genomeViewOf is the head of ind's GenomeView: its ID and fitness, and
// its genome g (decoded from ind) with its parameters, FLOPs per image,
// input, output vertex and classes. GenomeOf adds the vertices and edges.
func genomeViewOf(ind *individual.Individual, g *dna.Genome) *GenomeView {
	return &GenomeView{ID: ind.ID.String(), Fitness: ind.Fitness, Params: g.Params(), FLOPs: g.FLOPs(), Genome: g,
		Input: shapeView(g.Input), Output: g.OutputVertex, Classes: g.Classes}
}
