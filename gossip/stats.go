package gossip

import (
	"math"
	"sync/atomic"
	"time"
)

// Stats counts what a swarm member published and accepted on the migrants
// topic, for measuring delivery and propagation across a swarm (see
// scripts/swarm-soak.sh). Delivery ratio over a swarm of N nodes:
// sum(Accepted) / (sum(Published) * (N-1)).
type Stats struct {
	// Published counts announcements this node published (originals and
	// relays) that pubsub took.
	Published uint64 `json:"published"`
	// Accepted counts announcements from peers that passed validation and
	// reached the subscription (whether or not the Migrants channel had
	// room for them: see Dropped).
	Accepted uint64 `json:"accepted"`
	// Delay is the propagation delay of the accepted announcements: the
	// time they were accepted here minus their send time (both wall clocks:
	// meaningful across machines only as far as their clocks agree).
	Delay DelayStats `json:"delay"`
}

// DelayStats summarises propagation delays with a fixed, log-spaced
// histogram (8 buckets per doubling, about 9% wide, from 0.1 ms to beyond
// 15 minutes), so that it is bounded and histograms of several nodes can
// be merged by adding the counts of equal bounds.
type DelayStats struct {
	Count uint64 `json:"count"`
	// Negative counts delays below zero (a sender's clock ahead of ours);
	// they are in the first bucket.
	Negative uint64  `json:"negative"`
	P50Ms    float64 `json:"p50_ms"`
	P90Ms    float64 `json:"p90_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	// Buckets are the non-empty buckets, in increasing order: LeMs is the
	// bucket's upper bound. Quantiles above are upper bounds too.
	Buckets []DelayBucket `json:"buckets"`
}

// DelayBucket is one histogram bucket: Count delays of at most LeMs.
type DelayBucket struct {
	LeMs  float64 `json:"le_ms"`
	Count uint64  `json:"count"`
}

const (
	delayMin        = 100 * time.Microsecond // upper bound of the first bucket
	delayPerDoubled = 8
	delayBuckets    = 24*delayPerDoubled + 2 // 0.1 ms * 2^24 is about 28 min, then +Inf
)

// swarmStats is the swarm's live counters; the zero value is ready.
type swarmStats struct {
	published, accepted, negative atomic.Uint64
	maxNanos                      atomic.Int64
	hist                          [delayBuckets]atomic.Uint64
}

func (st *swarmStats) onPublish() { st.published.Add(1) }

// onAccept records an announcement from a peer accepted after delay.
func (st *swarmStats) onAccept(delay time.Duration) {
	st.accepted.Add(1)
	if delay < 0 {
		st.negative.Add(1)
	}
	for {
		m := st.maxNanos.Load()
		if int64(delay) <= m || st.maxNanos.CompareAndSwap(m, int64(delay)) {
			break
		}
	}
	st.hist[delayBucket(delay)].Add(1)
}

// delayBucket returns the index of the bucket holding d.
func delayBucket(d time.Duration) int {
	if d <= delayMin {
		return 0
	}
	i := int(math.Ceil(math.Log2(float64(d)/float64(delayMin)) * delayPerDoubled))
	// Guard against rounding at exact bounds.
	if i > 0 && d <= delayBound(i-1) {
		i--
	}
	return min(max(i, 0), delayBuckets-1)
}

// delayBound returns bucket i's upper bound (+Inf for the last).
func delayBound(i int) time.Duration {
	if i >= delayBuckets-1 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(float64(delayMin) * math.Exp2(float64(i)/delayPerDoubled))
}

func (st *swarmStats) snapshot() Stats {
	out := Stats{Published: st.published.Load(), Accepted: st.accepted.Load()}
	d := &out.Delay
	d.Negative = st.negative.Load()
	d.MaxMs = float64(st.maxNanos.Load()) / 1e6
	var counts [delayBuckets]uint64
	for i := range counts {
		counts[i] = st.hist[i].Load()
		d.Count += counts[i]
	}
	d.Buckets = []DelayBucket{}
	for i, c := range counts {
		if c > 0 {
			d.Buckets = append(d.Buckets, DelayBucket{LeMs: boundMs(i), Count: c})
		}
	}
	q := func(p float64) float64 {
		v := quantile(counts[:], d.Count, p)
		if v < 0 || v > d.MaxMs { // the last bucket, or a bound above the largest delay
			v = d.MaxMs
		}
		return v
	}
	d.P50Ms, d.P90Ms, d.P99Ms = q(0.50), q(0.90), q(0.99)
	return out
}

// boundMs is bucket i's upper bound in milliseconds; the last bucket's,
// which is unbounded, is reported as -1 (JSON has no infinity).
func boundMs(i int) float64 {
	if i >= delayBuckets-1 {
		return -1
	}
	return float64(delayBound(i)) / 1e6
}

// quantile returns the upper bound (ms) of the bucket holding quantile q.
func quantile(counts []uint64, total uint64, q float64) float64 {
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			return boundMs(i)
		}
	}
	return boundMs(len(counts) - 1)
}

// Stats returns the swarm's delivery counters and propagation delays since
// it started.
func (s *Swarm) Stats() Stats { return s.stats.snapshot() }
