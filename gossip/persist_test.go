package gossip

import (
	"testing"
	"time"
)

// A restored replay mark is rejected until its Until, as it would have
// been without the restart, and forgotten within one bucket after it.
func TestReplayRestoreKeepsRetention(t *testing.T) {
	retention := 4 * time.Minute // span 1 minute, 5 buckets
	now := time.Unix(1_000_000, 0)
	c := newReplayCache(retention, 1000, now)
	lefts := []time.Duration{30 * time.Second, 90 * time.Second, 150 * time.Second, 210 * time.Second, 239 * time.Second}
	keys := make([][32]byte, len(lefts))
	for i, left := range lefts {
		k := [32]byte{byte(i + 1)}
		keys[i] = k
		if !c.restore(k, now.Add(left), now) {
			t.Fatalf("a mark with %v left was not restored", left)
		}
	}
	if c.restore([32]byte{0xff}, now.Add(-time.Second), now) {
		t.Error("an expired mark was restored")
	}
	for i, k := range keys { // in time order
		left := lefts[i]
		// Still a replay just before its Until ...
		if c.add(k, now.Add(left-time.Second)) {
			t.Errorf("mark with %v left forgotten before its Until", left)
		}
	}
	// ... and gone one span after the latest Until.
	later := now.Add(retention + 2*time.Minute)
	for i, k := range keys {
		left := lefts[i]
		if !c.add(k, later) {
			t.Errorf("mark with %v left still held at %v", left, later.Sub(now))
		}
	}
}
