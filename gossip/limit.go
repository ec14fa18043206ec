package gossip

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Penalties for abuse of the network side, in score points (see Penalize:
// they add up, halve every PenaltyHalfLife, and a peer whose penalty
// exceeds MaxPenalty, 5000 by default, is banned).
const (
	// OverLimitPenalty is what a peer loses for each weights request or
	// announcement over its rate or concurrency limit: a flood of about
	// 200 refused requests gets it banned, while an honest peer, which
	// stays far below the limits, never pays it.
	OverLimitPenalty = 25
	// StallPenalty is what a peer loses for a weights stream it opened and
	// then stopped reading (StallTimeout), or to which it sent no request
	// (RequestTimeout): 21 in quick succession get it banned (a total above
	// the default MaxPenalty of 5000; more as penalties fade).
	StallPenalty = 250
	// BadReplyPenalty is what a peer loses for a lineage answer that breaks
	// the protocol (ErrBadLineage): 21 in quick succession get it banned.
	BadReplyPenalty = 250
	// FrozenGenomePenalty is what the signer of an announcement loses when
	// its genome freezes vertices evolution leaves mutable (rule 10b of
	// docs/protocol.md, which honest evoswarm nodes never break): 21 in
	// quick succession get it banned.
	FrozenGenomePenalty = 250
)

// Limit reasons, as counted by Abuse.
const (
	LimitServeRate    = "weights-rate"        // a weights request over the peer's rate
	LimitServePeer    = "weights-concurrency" // more of the peer's requests at once than ServePerPeer
	LimitServeBusy    = "weights-busy"        // every serving slot taken (no penalty)
	LimitNoRequest    = "weights-no-request"  // no request within RequestTimeout
	LimitStalled      = "weights-stalled"     // the peer stopped reading its response
	LimitAnnounceRate = "announce-rate"       // an announcement over its signer's rate
	LimitLineageRate  = "lineage-rate"        // a lineage request over the peer's rate
	LimitLineagePeer  = "lineage-concurrency" // more of the peer's lineage requests at once than ServePerPeer
	LimitLineageIdle  = "lineage-no-request"  // a lineage stream with no request within its deadline
	LimitLineageBusy  = "lineage-busy"        // every lineage serving slot taken (no penalty)
	LimitLineageBad   = "lineage-bad-reply"   // a lineage answer this node fetched broke the protocol
)

// LimitReasons lists every limit reason.
func LimitReasons() []string {
	return []string{LimitServeRate, LimitServePeer, LimitServeBusy, LimitNoRequest, LimitStalled, LimitAnnounceRate,
		LimitLineageRate, LimitLineagePeer, LimitLineageIdle, LimitLineageBusy, LimitLineageBad}
}

// abuseCounters counts refusals by reason, and the weights requests served.
type abuseCounters struct {
	served atomic.Uint64
	counts map[string]*atomic.Uint64 // read-only map
}

func newAbuseCounters() *abuseCounters {
	c := &abuseCounters{counts: make(map[string]*atomic.Uint64)}
	for _, r := range LimitReasons() {
		c.counts[r] = new(atomic.Uint64)
	}
	return c
}

// AbuseStats counts what the node refused to peers that exceed its limits.
type AbuseStats struct {
	// Served is the number of weights requests answered (found or not).
	Served uint64
	// Refused counts requests, streams and announcements refused, by limit
	// reason (every reason of LimitReasons, zeros included).
	Refused map[string]uint64
}

// Abuse returns the counters of refusals and served weights requests.
func (s *Swarm) Abuse() AbuseStats {
	out := AbuseStats{Served: s.abuse.served.Load(), Refused: make(map[string]uint64, len(s.abuse.counts))}
	for r, c := range s.abuse.counts {
		out.Refused[r] = c.Load()
	}
	return out
}

// rateBook is a token bucket per peer, with a count of the peer's
// requests in progress. Its memory is bounded: beyond maxRateEntries peers,
// idle peers whose bucket is full again are forgotten (they lose nothing),
// and if none is, new peers are refused until some are.
type rateBook struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	perPeer int // most in progress at once; 0: unbounded
	now     func() time.Time
	m       map[peer.ID]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
	active int
}

const maxRateEntries = 1 << 14

// limitFull is take's answer when the book holds maxRateEntries peers
// that are all active or short of tokens: a newcomer is refused, but it
// did nothing wrong, so it is not penalised (and not counted as abuse).
const limitFull = "rate-book-full"

func newRateBook(rate float64, burst, perPeer int) *rateBook {
	return &rateBook{rate: rate, burst: float64(burst), perPeer: perPeer, now: time.Now, m: make(map[peer.ID]*bucket)}
}

// take asks for one of p's tokens and, with perPeer set, a slot among its
// requests in progress. It returns "" when granted (then call done when
// perPeer is set), or the limit reason.
func (r *rateBook) take(p peer.ID, rateReason, peerReason string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	b, ok := r.m[p]
	if !ok {
		if len(r.m) >= maxRateEntries {
			r.sweep(now)
			if len(r.m) >= maxRateEntries {
				return limitFull
			}
		}
		b = &bucket{tokens: r.burst, at: now}
		r.m[p] = b
	}
	r.refill(b, now)
	if r.perPeer > 0 && b.active >= r.perPeer {
		return peerReason
	}
	if b.tokens < 1 {
		return rateReason
	}
	b.tokens--
	if r.perPeer > 0 {
		b.active++
	}
	return ""
}

// done ends one of p's requests in progress.
func (r *rateBook) done(p peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.m[p]; ok && b.active > 0 {
		b.active--
	}
}

func (r *rateBook) refill(b *bucket, now time.Time) {
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = min(r.burst, b.tokens+dt*r.rate)
	}
	b.at = now
}

func (r *rateBook) sweep(now time.Time) {
	for p, b := range r.m {
		r.refill(b, now)
		if b.active == 0 && b.tokens >= r.burst {
			delete(r.m, p)
		}
	}
}

func (r *rateBook) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}
