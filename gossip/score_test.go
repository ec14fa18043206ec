package gossip

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestScoreBookStrikes(t *testing.T) {
	b := newScoreBook(time.Hour)
	p, q := peer.ID("p"), peer.ID("q")
	samples := []struct {
		scores map[peer.ID]float64
		ban    []peer.ID
	}{
		{map[peer.ID]float64{p: 0, q: 0}, nil},
		{map[peer.ID]float64{p: -3000, q: 0}, nil}, // strike 1
		{map[peer.ID]float64{p: -3000, q: 0}, nil}, // still below: no new strike
		{map[peer.ID]float64{p: -100, q: 0}, nil},
		{map[peer.ID]float64{p: -2600, q: 0}, nil},                         // strike 2
		{map[peer.ID]float64{p: 0, q: BanThreshold - 1}, []peer.ID{q}},     // q: far below
		{map[peer.ID]float64{p: -2600, q: BanThreshold - 1}, []peer.ID{p}}, // strike 3; q still far below: not banned again
		{map[peer.ID]float64{p: -2600, q: 0}, nil},
		{map[peer.ID]float64{p: -2600, q: BanThreshold - 1}, []peer.ID{q}}, // q sank again
	}
	for i, s := range samples {
		got := b.observe(s.scores, 3)
		if len(got) != len(s.ban) || len(got) > 0 && got[0] != s.ban[0] {
			t.Errorf("sample %d: ban %v, want %v", i, got, s.ban)
		}
	}
	b.observe(map[peer.ID]float64{p: 0}, 3)
	if _, ok := b.sunk[q]; ok {
		t.Error("state kept for a peer no longer scored")
	}
}

func TestPenaltyFades(t *testing.T) {
	b := newScoreBook(time.Hour)
	now := time.Unix(1_800_000_000, 0)
	b.now = func() time.Time { return now }
	p := peer.ID("p")
	b.bonus[p] = BootstrapScoreBonus
	b.penalize(p, 100)
	if got := b.app(p); got != BootstrapScoreBonus-100 {
		t.Errorf("app score %v, want %v", got, BootstrapScoreBonus-100)
	}
	now = now.Add(time.Hour)
	if got := b.app(p); got != BootstrapScoreBonus-50 {
		t.Errorf("app score after one half-life %v, want %v", got, BootstrapScoreBonus-50)
	}
	if total := b.penalize(p, 10); total != 60 {
		t.Errorf("penalty total %v, want 60", total)
	}
}

// Penalize lowers the peer's score as the other node's pubsub computes it.
func TestPenalizeLowersScore(t *testing.T) {
	a, b := newSwarm(t), newSwarm(t)
	connect(t, a, b)
	waitTopicPeers(t, a, 1)
	waitFor(t, 5*time.Second, "a score for b", func() bool { _, ok := a.book.score(b.ID()); return ok })
	before := a.Score(b.ID())
	a.Penalize(b.ID(), 300, "claimed fitness 0.9, re-measured 0.4")
	waitFor(t, 5*time.Second, "the penalty in b's score", func() bool { return a.Score(b.ID()) < before-250 })
	t.Logf("score of b on a: %.1f before, %.1f after Penalize(300)", before, a.Score(b.ID()))
	if a.Banned(b.ID()) || len(a.Peers()) != 1 {
		t.Error("a penalty below MaxPenalty banned or disconnected the peer")
	}
}

// A peer penalized beyond MaxPenalty is disconnected and refused.
func TestPenalizeBeyondBoundBans(t *testing.T) {
	a := newSwarm(t, func(c *Config) { c.MaxPenalty = 1000 })
	b := newSwarm(t)
	connect(t, a, b)
	a.Penalize(b.ID(), 600, "first offence")
	if a.Banned(b.ID()) {
		t.Fatal("banned below MaxPenalty")
	}
	a.Penalize(b.ID(), 600, "second offence")
	if !a.Banned(b.ID()) {
		t.Fatal("not banned beyond MaxPenalty")
	}
	waitFor(t, 5*time.Second, "disconnection", func() bool { return len(a.Peers()) == 0 && len(b.Peers()) == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Connect(ctx, addrInfo(t, a)); err == nil {
		// The gater refuses after the handshake; the dialer may see the
		// connection open briefly. It must not stay.
		time.Sleep(200 * time.Millisecond)
		if len(a.Peers()) != 0 {
			t.Errorf("banned peer reconnected: a's peers %v", a.Peers())
		}
	}
	if err := a.Connect(ctx, addrInfo(t, b)); !errors.Is(err, ErrBanned) {
		t.Errorf("a.Connect(banned) = %v, want ErrBanned", err)
	}
}

// TestPenaltiesBounded: throwaway identities each penalised once do not
// grow the book without bound; the heaviest penalties stay.
func TestPenaltiesBounded(t *testing.T) {
	b := newScoreBook(time.Hour)
	heavy := peer.ID("heavy")
	b.penalize(heavy, 4000)
	for i := range maxPenalized + 100 {
		b.penalize(peer.ID(fmt.Sprintf("p%d", i)), 25)
	}
	if n := len(b.penalty); n > maxPenalized {
		t.Errorf("%d penalised peers remembered, want at most %d", n, maxPenalized)
	}
	if got := b.penalize(heavy, 1); got < 4000 {
		t.Errorf("the heaviest penalty was forgotten: %v", got)
	}
}
