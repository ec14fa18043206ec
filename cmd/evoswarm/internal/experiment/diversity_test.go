package experiment

import (
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/node"
)

func TestDiversity(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	end := t0.Add(20 * time.Minute)
	step := func(id string, min int) node.Ancestor {
		return node.Ancestor{ID: id, Born: t0.Add(time.Duration(min) * time.Minute)}
	}
	// a and b share r1 -> x (born at minute 5, migrated: it appears twice
	// on b's chain, the second time at minute 6); c is its own lineage.
	a := []node.Ancestor{step("r1", 0), step("x", 5), step("a1", 10), step("a2", 15)}
	b := []node.Ancestor{step("r1", 0), step("x", 5), step("x", 6), step("b1", 12)}
	c := []node.Ancestor{step("r2", 0), step("c1", 8)}

	d := diversityOf([][]node.Ancestor{a, b, c, nil}, end)
	if d.Bests != 3 || d.Lineages != 2 {
		t.Errorf("bests %d lineages %d, want 3 and 2", d.Bests, d.Lineages)
	}
	if d.SplitSeconds == nil || *d.SplitSeconds != 15*60 {
		t.Errorf("split %v, want 900 s (x, born at minute 5 on its sender)", d.SplitSeconds)
	}

	// Two nodes holding the same best: split 0.
	d = diversityOf([][]node.Ancestor{a, append(a[:len(a):len(a)], step("a2", 16)), c}, end)
	if d.Bests != 2 || d.SplitSeconds == nil || *d.SplitSeconds != 5*60 {
		t.Errorf("same best: bests %d split %v, want 2 and 300 s (a2 born at minute 15)", d.Bests, d.SplitSeconds)
	}

	// Separate lineages only: no split.
	d = diversityOf([][]node.Ancestor{a, c}, end)
	if d.Lineages != 2 || d.SplitSeconds != nil {
		t.Errorf("separate: lineages %d split %v, want 2 and none", d.Lineages, d.SplitSeconds)
	}
}
