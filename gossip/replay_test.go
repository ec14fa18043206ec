package gossip

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

func TestReplayCache(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	c := newReplayCache(20*time.Minute, 1000, t0)
	k := func(i byte) [32]byte { return [32]byte{i} }
	if !c.add(k(1), t0) {
		t.Fatal("first add of a key reported a replay")
	}
	if c.add(k(1), t0.Add(time.Second)) {
		t.Fatal("second add of a key was not a replay")
	}
	// Remembered for at least the retention...
	if c.add(k(1), t0.Add(19*time.Minute)) {
		t.Error("key forgotten before the retention")
	}
	// ...and forgotten within a bucket span after it.
	if !c.add(k(1), t0.Add(26*time.Minute)) {
		t.Error("key remembered well past the retention")
	}
	// A long idle period clears everything.
	if !c.add(k(2), t0.Add(10*time.Hour)) || c.len() != 1 {
		t.Errorf("after 10 idle hours the cache holds %d keys, want 1", c.len())
	}
	c.forget(k(2))
	if !c.add(k(2), t0.Add(10*time.Hour)) {
		t.Error("forgotten key still present")
	}
}

// A flood cannot grow the cache beyond its capacity; it shortens the
// retention instead.
func TestReplayCacheBounded(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	c := newReplayCache(20*time.Minute, 100, t0)
	for i := range 10_000 {
		var k [32]byte
		k[0], k[1] = byte(i), byte(i>>8)
		c.add(k, t0)
	}
	if n := c.len(); n > 100 {
		t.Errorf("cache holds %d keys, capacity 100", n)
	}
	if c.early == 0 {
		t.Error("no early bucket rotation counted under a flood")
	}
}

func TestReplayKey(t *testing.T) {
	id := dna.ID{1}
	a, b := peer.ID("a"), peer.ID("b")
	if replayKey(id, false, a) != replayKey(id, false, b) {
		t.Error("original announcements of one individual by two signers have different keys")
	}
	if replayKey(id, true, a) == replayKey(id, true, b) {
		t.Error("relays of one individual by two signers share a key")
	}
	if replayKey(id, true, a) == replayKey(id, false, a) {
		t.Error("a relay and an original share a key")
	}
}

// TestRateBookFull: a book full of active peers refuses a newcomer with
// limitFull (which its callers do not penalise), not with the rate reason.
func TestRateBookFull(t *testing.T) {
	r := newRateBook(1, 1, 1)
	for i := range maxRateEntries {
		if why := r.take(peer.ID(fmt.Sprintf("p%d", i)), "rate", "peer"); why != "" {
			t.Fatalf("peer %d refused (%s) before the book was full", i, why)
		}
	}
	if why := r.take(peer.ID("newcomer"), "rate", "peer"); why != limitFull {
		t.Errorf("a newcomer to a full book of active peers: %q, want %q", why, limitFull)
	}
	if why := r.take(peer.ID("p0"), "rate", "peer"); why != "peer" {
		t.Errorf("a known peer over its concurrency: %q, want the concurrency reason", why)
	}
}
