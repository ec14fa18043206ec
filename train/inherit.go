package train

import (
	"fmt"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Inheritance modes, Config.Inheritance.
const (
	// InheritExact is the paper's rule: a child takes each tensor of its
	// parent whose key and shape match; every other tensor starts afresh.
	InheritExact = "exact"
	// InheritPartial also takes the overlapping slice of a tensor whose
	// shape changed (channels added or removed, a filter resized), and
	// initialises only the part that is new. See newModel.
	InheritPartial = "partial"
)

// inheritanceMode returns the mode a Config asks for: "" is exact.
func inheritanceMode(s string) string {
	if s == "" {
		return InheritExact
	}
	return s
}

func validInheritance(s string) error {
	switch s {
	case "", InheritExact, InheritPartial:
		return nil
	}
	return fmt.Errorf("train: inheritance %q: want %q (the paper) or %q", s, InheritExact, InheritPartial)
}

// Inheritance reports what a child took from its parent. Every tensor of
// the child is counted once: copied whole (key and shape match), sliced
// (partial inheritance: same key, another shape, the overlap copied) or
// new. The parameter counts cover every value, batch norm's running
// statistics included: InheritedParams + SlicedParams + NewParams is the
// size of the child's weights, where SlicedParams are the values copied
// into sliced tensors and NewParams every value initialised afresh (the
// new tensors and the new part of the sliced ones).
type Inheritance struct {
	// Mode is the inheritance mode the network was built with:
	// InheritExact or InheritPartial.
	Mode             string `json:"inheritance"`
	InheritedTensors int    `json:"inherited_tensors"`
	SlicedTensors    int    `json:"sliced_tensors"`
	NewTensors       int    `json:"new_tensors"`
	InheritedParams  int64  `json:"inherited_params"`
	SlicedParams     int64  `json:"sliced_params"`
	NewParams        int64  `json:"new_params"`
}

// Complete reports whether every tensor was copied whole: what building a
// network from its own weights (not a parent's) requires.
func (i Inheritance) Complete() bool { return i.NewTensors == 0 && i.SlicedTensors == 0 }

// fits returns nil when weights laid out for g filled every tensor whole,
// else an error: weights that are an individual's own must fit its genome
// exactly, whatever the inheritance mode (partial inheritance would slice
// a mismatched tensor rather than refuse it).
func (i Inheritance) fits(g *dna.Genome) error {
	if i.Complete() {
		return nil
	}
	return fmt.Errorf("train: %w: they lack %d of genome %s's tensors (or have them in another shape)", ErrWeightsMismatch, i.NewTensors+i.SlicedTensors, g.ID().Short())
}

// copyOverlap copies into dst the values of src that overlap it, and
// returns how many. Along each dimension the overlap is the first
// min(src, dst) indices (channels: index i is channel i, as the
// primary-edge rule truncates and zero-pads), except where centred is set
// (a filter's height and width), where the centres of the two align: a
// 3x3 filter is the middle of a 5x5 one. Both tensors must have the same
// rank, at most 4.
func copyOverlap(dst, src *Tensor, centred []bool) int64 {
	rank := len(dst.Shape)
	var n, so, do, ss, ds [maxRank]int
	for d := range rank {
		a, b := src.Shape[d], dst.Shape[d]
		n[d] = min(a, b)
		if centred[d] {
			so[d], do[d] = (a-n[d])/2, (b-n[d])/2
		}
	}
	// Row-major strides.
	sst, dst1 := 1, 1
	for d := rank - 1; d >= 0; d-- {
		ss[d], ds[d] = sst, dst1
		sst *= src.Shape[d]
		dst1 *= dst.Shape[d]
	}
	total := int64(1)
	for d := range rank {
		total *= int64(n[d])
	}
	if total == 0 {
		return 0
	}
	// Walk the overlap's index space but for the last dimension, which is
	// copied as a run.
	last := rank - 1
	var idx [maxRank]int
	for {
		s, t := so[last]*ss[last], do[last]*ds[last]
		for d := range last {
			s += (idx[d] + so[d]) * ss[d]
			t += (idx[d] + do[d]) * ds[d]
		}
		copy(dst.Data[t:t+n[last]], src.Data[s:s+n[last]])
		d := last - 1
		for ; d >= 0; d-- {
			idx[d]++
			if idx[d] < n[d] {
				break
			}
			idx[d] = 0
		}
		if d < 0 {
			return total
		}
	}
}
