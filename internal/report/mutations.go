package report

import (
	"math"
	"slices"
	"strings"

	"github.com/evoswarm/evoswarm/island/individual"
)

// MutationStat is how the children one kind of mutation made fared
// against their parents: the share that beat the parent's validation
// accuracy is the rate at which a mutation moves the search forward, and
// where weight inheritance throws away reshaped layers it falls.
type MutationStat struct {
	Mutation string `json:"mutation"`
	// Children counts the measured children whose parent is measured in
	// the same records; Improved those that beat it; SumDelta is the sum
	// over Children of child minus parent validation accuracy.
	Children int     `json:"children"`
	Improved int     `json:"improved"`
	SumDelta float64 `json:"sum_delta"`
}

// ImprovedShare is the share of the children that beat their parent (NaN
// with none).
func (m MutationStat) ImprovedShare() float64 {
	if m.Children == 0 {
		return math.NaN()
	}
	return float64(m.Improved) / float64(m.Children)
}

// MeanDelta is the mean change of validation accuracy from parent to
// child (NaN with none).
func (m MutationStat) MeanDelta() float64 {
	if m.Children == 0 {
		return math.NaN()
	}
	return m.SumDelta / float64(m.Children)
}

// Mutations counts, by mutation, how one node's children compare with
// their parents. A child counts when it is measured (not training), was
// made here (not an immigrant) and its parent is in recs and measured:
// the parent of an immigrant's child is the immigrant, re-measured here.
// A diverged child counts with its fitness of 0. The result is sorted by
// mutation.
func Mutations(recs []Record) []MutationStat {
	fitness := make(map[string]float64, len(recs))
	for _, r := range recs {
		if r.Status != individual.Training {
			fitness[r.ID] = r.Fitness
		}
	}
	by := map[string]*MutationStat{}
	for _, r := range recs {
		if r.Parent == "" || r.Immigrant || r.Status == individual.Training {
			continue
		}
		pf, ok := fitness[r.Parent]
		if !ok {
			continue
		}
		m := by[r.Mutation]
		if m == nil {
			m = &MutationStat{Mutation: r.Mutation}
			by[r.Mutation] = m
		}
		m.Children++
		if r.Fitness > pf {
			m.Improved++
		}
		m.SumDelta += r.Fitness - pf
	}
	out := make([]MutationStat, 0, len(by))
	for _, m := range by {
		out = append(out, *m)
	}
	sortMutations(out)
	return out
}

// MergeMutations adds up the counts of several nodes or runs by mutation,
// sorted by mutation.
func MergeMutations(lists ...[]MutationStat) []MutationStat {
	by := map[string]*MutationStat{}
	var out []MutationStat
	for _, l := range lists {
		for _, m := range l {
			if t := by[m.Mutation]; t != nil {
				t.Children += m.Children
				t.Improved += m.Improved
				t.SumDelta += m.SumDelta
				continue
			}
			c := m
			by[m.Mutation] = &c
		}
	}
	for _, m := range by {
		out = append(out, *m)
	}
	sortMutations(out)
	return out
}

func sortMutations(l []MutationStat) {
	slices.SortFunc(l, func(a, b MutationStat) int { return strings.Compare(a.Mutation, b.Mutation) })
}
