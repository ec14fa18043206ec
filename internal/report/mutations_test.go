package report

import (
	"math"
	"testing"

	"github.com/evoswarm/evoswarm/island/individual"
)

// TestMutations: a child counts against its parent only when both are
// measured and the child was made here; diverged children count with 0.
func TestMutations(t *testing.T) {
	dead, alive, training := individual.Dead, individual.Alive, individual.Training
	recs := []Record{
		{ID: "p", Status: dead, Fitness: 0.50},
		{ID: "a", Status: alive, Fitness: 0.60, Parent: "p", Mutation: "alter-stride"},          // +0.10
		{ID: "b", Status: dead, Fitness: 0.40, Parent: "p", Mutation: "alter-stride"},           // -0.10
		{ID: "c", Status: dead, Fitness: 0, Parent: "a", Mutation: "alter-stride"},              // diverged: -0.60
		{ID: "d", Status: alive, Fitness: 0.55, Parent: "p", Mutation: "identity"},              // +0.05
		{ID: "e", Status: alive, Fitness: 0.50, Parent: "p", Mutation: "identity"},              // a tie is no improvement
		{ID: "f", Status: training, Fitness: 0, Parent: "p", Mutation: "identity"},              // not measured
		{ID: "g", Status: alive, Fitness: 0.9, Parent: "elsewhere", Mutation: "identity"},       // parent unknown
		{ID: "h", Status: alive, Fitness: 0.9, Parent: "p", Mutation: "reset", Immigrant: true}, // made elsewhere
		{ID: "i", Status: alive, Fitness: 0.7, Parent: "f", Mutation: "reset"},                  // parent not measured
	}
	got := Mutations(recs)
	if len(got) != 2 || got[0].Mutation != "alter-stride" || got[1].Mutation != "identity" {
		t.Fatalf("mutations: %+v; want alter-stride and identity", got)
	}
	s, id := got[0], got[1]
	if s.Children != 3 || s.Improved != 1 || math.Abs(s.SumDelta-(-0.60)) > 1e-12 {
		t.Errorf("alter-stride: %+v; want 3 children, 1 improved, sum -0.60", s)
	}
	if id.Children != 2 || id.Improved != 1 || math.Abs(id.MeanDelta()-0.025) > 1e-12 || id.ImprovedShare() != 0.5 {
		t.Errorf("identity: %+v; want 2 children, 1 improved, mean +0.025", id)
	}

	m := MergeMutations(got, []MutationStat{{Mutation: "identity", Children: 2, Improved: 2, SumDelta: 0.1}, {Mutation: "add-skip", Children: 1}})
	if len(m) != 3 || m[0].Mutation != "add-skip" || m[2].Children != 4 || m[2].Improved != 3 || math.Abs(m[2].SumDelta-0.15) > 1e-12 {
		t.Errorf("merged: %+v", m)
	}
	if got[0].Children != 3 {
		t.Error("MergeMutations changed its input")
	}
	if !math.IsNaN((MutationStat{}).ImprovedShare()) || !math.IsNaN((MutationStat{}).MeanDelta()) {
		t.Error("no children: want NaN shares")
	}
}
