package gossip

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

// replayCache remembers the announcements accepted recently, beyond
// pubsub's two-minute seen cache, so that a captured message re-injected
// later, or an individual announced twice, is rejected.
//
// It is time-bucketed: entries go into the newest of a ring of buckets, each
// covering span; the oldest bucket is dropped whole when a new one starts.
// An entry therefore lives at least retention = span*(len(buckets)-1),
// which New sets to MaxAge+MaxClockSkew: anything older is rejected as
// stale anyway. Memory is bounded by capacity: when the newest bucket holds
// capacity/(len(buckets)) entries, a new bucket starts early, so under a
// flood the retention shrinks rather than the memory grows.
type replayCache struct {
	mu        sync.Mutex
	buckets   []map[[32]byte]struct{}
	cur       int
	start     time.Time // when buckets[cur] started
	span      time.Duration
	perBucket int
	early     uint64 // buckets started early because of a flood
}

const replayBuckets = 5

func newReplayCache(retention time.Duration, capacity int, now time.Time) *replayCache {
	c := &replayCache{
		buckets:   make([]map[[32]byte]struct{}, replayBuckets),
		span:      max(retention/(replayBuckets-1), time.Millisecond),
		perBucket: max(capacity/replayBuckets, 1),
		start:     now,
	}
	for i := range c.buckets {
		c.buckets[i] = make(map[[32]byte]struct{})
	}
	return c
}

// replayKey names what may be announced once. An original announcement
// claims the individual itself: the same genome ID announced as original a
// second time, by anyone, is a replay. A relay claims "this signer relays
// this individual": each peer may relay an individual once.
func replayKey(id dna.ID, relayed bool, signer peer.ID) [32]byte {
	if !relayed {
		return id
	}
	h := sha256.New()
	h.Write([]byte("evoswarm relay\x00"))
	h.Write(id[:])
	h.Write([]byte(signer))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// add records key and reports whether it was new.
func (c *replayCache) add(key [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rotate(now)
	if c.has(key) {
		return false
	}
	if len(c.buckets[c.cur]) >= c.perBucket {
		c.early++
		c.advance(now)
	}
	c.buckets[c.cur][key] = struct{}{}
	return true
}

// seen reports whether key is remembered, without recording it.
func (c *replayCache) seen(key [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rotate(now)
	return c.has(key)
}

// has reports whether any bucket holds key. Call with c.mu held.
func (c *replayCache) has(key [32]byte) bool {
	for _, b := range c.buckets {
		if _, ok := b[key]; ok {
			return true
		}
	}
	return false
}

func (c *replayCache) rotate(now time.Time) {
	for i := 0; i < len(c.buckets) && now.Sub(c.start) >= c.span; i++ {
		c.advance(c.start.Add(c.span))
	}
	if now.Sub(c.start) >= c.span { // idle for longer than the whole ring
		c.start = now
	}
}

func (c *replayCache) advance(start time.Time) {
	c.cur = (c.cur + 1) % len(c.buckets)
	clear(c.buckets[c.cur])
	c.start = start
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, b := range c.buckets {
		n += len(b)
	}
	return n
}

// forget removes key, for an announcement that could not be sent.
func (c *replayCache) forget(key [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.buckets {
		delete(b, key)
	}
}

// restore puts back a saved entry that is rejected until until, in the
// bucket of the time it was added (until less the retention), so that it
// lives as long as it would have without the restart. It reports whether
// the entry was restored: one too old for the ring is not.
func (c *replayCache) restore(key [32]byte, until, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rotate(now)
	at := until.Add(-c.span * time.Duration(len(c.buckets)-1))
	k := 0
	if at.Before(c.start) {
		k = int(c.start.Sub(at)/c.span) + 1
	}
	if k >= len(c.buckets) || !until.After(now) {
		return false
	}
	c.buckets[(c.cur-k+len(c.buckets))%len(c.buckets)][key] = struct{}{}
	return true
}
