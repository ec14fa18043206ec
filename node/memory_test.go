package node

import (
	"runtime/debug"
	"testing"
)

// TestLimitMemory checks the collector's pacing in a node: GOGC gcPercent
// and the soft limit from the experiment, each unless its variable is set.
func TestLimitMemory(t *testing.T) {
	exp, err := Preset("smoke")
	if err != nil {
		t.Fatal(err)
	}
	oldGC := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(oldGC)
		debug.SetMemoryLimit(oldLimit)
	})
	n := &Node{exp: exp, log: testLog(t)}

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	n.limitMemory()
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, gcPercent)
	}
	want := int64(512<<20) + exp.Train.MemoryBudget*int64(exp.Workers+admitters)
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Errorf("GOMEMLIMIT unset: limit %d, want %d", got, want)
	}

	debug.SetMemoryLimit(1 << 40)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	n.limitMemory()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: GC percent changed to %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<40 {
		t.Errorf("GOMEMLIMIT set: limit changed to %d", got)
	}
}
