package experiment

import (
	"strings"
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

	// Where they meet, and what the report says of it.
	if m, ok := Meet(a, b); !ok || m.ID != "x" || m.BackA != 2 || m.BackB != 1 || !m.Born.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("Meet(a, b) = %+v, %v; want x, 2 and 1 steps back, born at minute 5", m, ok)
	}
	if _, ok := Meet(a, c); ok {
		t.Error("Meet(a, c): a and c share no individual")
	}
	var buf strings.Builder
	WriteDiversity(&buf, []string{"n0", "n1", "n2", "n3"}, [][]node.Ancestor{a, b, c, nil}, end)
	for _, want := range []string{
		"n0: best a2 val 0.0000, 3 steps from initial individual r1",
		"n3: no best",
		"n0 and n1: latest common ancestor x, 2 and 1 steps back, born 15m0s before the end",
		"n0 and n2: separate lineages",
		"diversity: 3 distinct bests, from 2 initial individuals; closest split before the end: 15.0 min",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, buf.String())
		}
	}

	// Separate lineages only: no split.
	d = diversityOf([][]node.Ancestor{a, c}, end)
	if d.Lineages != 2 || d.SplitSeconds != nil {
		t.Errorf("separate: lineages %d split %v, want 2 and none", d.Lineages, d.SplitSeconds)
	}
}
