package gossip

import (
	"testing"
	"time"
)

func TestDelayBuckets(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 0, 50 * time.Microsecond, delayMin, delayMin + 1, time.Millisecond,
		19 * time.Millisecond, 95 * time.Millisecond, time.Second, time.Minute, 20 * time.Minute, time.Hour} {
		i := delayBucket(d)
		if d > delayBound(i) {
			t.Errorf("%v: bucket %d's bound %v is below it", d, i, delayBound(i))
		}
		if i > 0 && d <= delayBound(i-1) {
			t.Errorf("%v: fits the bucket below %d (bound %v)", d, i, delayBound(i-1))
		}
	}
}

func TestStatsSnapshot(t *testing.T) {
	var st swarmStats
	st.onPublish()
	for i := 1; i <= 100; i++ {
		st.onAccept(time.Duration(i) * time.Millisecond)
	}
	st.onAccept(-time.Millisecond)
	s := st.snapshot()
	if s.Published != 1 || s.Accepted != 101 || s.Delay.Count != 101 || s.Delay.Negative != 1 {
		t.Fatalf("counts: %+v", s)
	}
	within := func(name string, got, want float64) {
		if got < want || got > want*1.1 {
			t.Errorf("%s = %v ms, want [%v, %v]", name, got, want, want*1.1)
		}
	}
	within("p50", s.Delay.P50Ms, 50)
	within("p99", s.Delay.P99Ms, 99)
	if s.Delay.MaxMs != 100 {
		t.Errorf("max = %v ms, want 100", s.Delay.MaxMs)
	}
	var n uint64
	for _, b := range s.Delay.Buckets {
		n += b.Count
	}
	if n != s.Accepted {
		t.Errorf("buckets hold %d, want %d", n, s.Accepted)
	}
}
