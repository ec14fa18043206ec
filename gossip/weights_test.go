package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

// mapWeights is a WeightsSource over a map.
type mapWeights struct {
	mu sync.Mutex
	m  map[dna.ID][]byte
}

func (w *mapWeights) Weights(id dna.ID) ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, ok := w.m[id]
	if !ok {
		return nil, fmt.Errorf("individual %s: %w", id.Short(), ErrWeightsNotFound)
	}
	return b, nil
}

func TestFetchWeights(t *testing.T) {
	blob, digest := testWeights(t)
	good, bogus, tampered := dna.ID{1}, dna.ID{2}, dna.ID{3}
	// bogus: another blob, whose own digest differs from the announced one.
	other := bytes.Clone(blob)
	other[len(other)-40] ^= 1
	copy(other[len(other)-32:], bytes.Repeat([]byte{0xee}, 32))
	// tampered: the announced digest at the end, but the body changed.
	bad := bytes.Clone(blob)
	bad[10] ^= 1
	src := &mapWeights{m: map[dna.ID][]byte{good: blob, bogus: other, tampered: bad}}
	holder := newSwarm(t, func(c *Config) { c.Weights = src })
	asker := newSwarm(t)
	connect(t, asker, holder)
	ctx := context.Background()

	got, err := asker.FetchWeights(ctx, holder.ID(), good, digest, len(blob))
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("FetchWeights = %d bytes, %v; want the %d-byte blob", len(got), err, len(blob))
	}
	tests := []struct {
		name string
		id   dna.ID
		size int
		want error
	}{
		{"bogus blob", bogus, len(blob), ErrDigestMismatch},
		{"tampered body", tampered, len(blob), ErrDigestMismatch},
		{"size not as announced", good, len(blob) - 1, ErrSizeMismatch},
		{"not held", dna.ID{4}, len(blob), ErrWeightsNotFound},
	}
	for _, tt := range tests {
		start := time.Now()
		_, err := asker.FetchWeights(ctx, holder.ID(), tt.id, digest, tt.size)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: FetchWeights = %v, want %v", tt.name, err, tt.want)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: took %v; a refused blob must not be retried", tt.name, d)
		}
	}
	// Sizes beyond the bound are refused without asking.
	if _, err := asker.FetchWeights(ctx, holder.ID(), good, digest, DefaultMaxWeightsBytes+1); err == nil {
		t.Error("FetchWeights accepted a size above MaxWeightsBytes")
	}
}

// A holder that has gone away: FetchWeights tries FetchAttempts times with
// backoff, then gives up with an error.
func TestFetchWeightsUnreachable(t *testing.T) {
	blob, digest := testWeights(t)
	asker := newSwarm(t, func(c *Config) { c.FetchAttempts, c.FetchBackoff = 3, 100*time.Millisecond })
	gone := newSwarm(t)
	connect(t, asker, gone)
	id := gone.ID()
	gone.Close()
	waitFor(t, 5*time.Second, "disconnection", func() bool { return len(asker.Peers()) == 0 })

	start := time.Now()
	_, err := asker.FetchWeights(context.Background(), id, dna.ID{1}, digest, len(blob))
	elapsed := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Fatalf("FetchWeights = %v, want giving up after 3 attempts", err)
	}
	// Backoff 100 ms then 200 ms; each dial fails fast on loopback.
	if elapsed < 300*time.Millisecond || elapsed > 10*time.Second {
		t.Errorf("gave up after %v, want about 0.3 s (two backoffs)", elapsed)
	}
	t.Logf("gave up after %v: %v", elapsed, err)

	// A cancelled context ends the retries at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := asker.FetchWeights(ctx, id, dna.ID{1}, digest, len(blob)); !errors.Is(err, context.Canceled) {
		t.Errorf("FetchWeights with a cancelled context = %v", err)
	}
}
