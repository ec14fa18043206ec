package gossip

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

func testPeerID(t testing.TB) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The validator's checks, one case per reason, without a network.
func TestValidatorCheck(t *testing.T) {
	cfg := testConfig(t)
	now := time.Now()
	signer, other := testPeerID(t), testPeerID(t)
	base := func(t *testing.T) *Announcement {
		a := testAnnouncement(t)
		a.Experiment, a.Origin, a.SentAt = testExperiment, signer, now
		return &a
	}
	encode := func(t *testing.T, a *Announcement) []byte {
		data, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	tests := []struct {
		name   string
		data   func(t *testing.T) []byte
		reason string
	}{
		{"valid", func(t *testing.T) []byte { return encode(t, base(t)) }, ""},
		{"valid relay", func(t *testing.T) []byte {
			a := base(t)
			a.Origin, a.Relayed = other, true
			return encode(t, a)
		}, ""},
		{"valid fitness 0 and 1", func(t *testing.T) []byte { a := base(t); a.Fitness = 1; return encode(t, a) }, ""},
		{"oversized", func(t *testing.T) []byte { return bytes.Repeat([]byte{1}, cfg.MaxAnnouncementSize+1) }, ReasonOversized},
		{"malformed", func(t *testing.T) []byte { return []byte("not an announcement") }, ReasonMalformed},
		{"version", func(t *testing.T) []byte { b := encode(t, base(t)); b[4] = 9; return b }, ReasonVersion},
		{"experiment", func(t *testing.T) []byte { a := base(t); a.Experiment = "exp-other"; return encode(t, a) }, ReasonExperiment},
		{"fitness NaN", func(t *testing.T) []byte { a := base(t); a.Fitness = math.NaN(); return encode(t, a) }, ReasonFitness},
		{"fitness negative", func(t *testing.T) []byte { a := base(t); a.Fitness = -0.1; return encode(t, a) }, ReasonFitness},
		{"fitness above 1", func(t *testing.T) []byte { a := base(t); a.Fitness = 1.01; return encode(t, a) }, ReasonFitness},
		{"weights too large", func(t *testing.T) []byte {
			a := base(t)
			a.WeightsSize = cfg.MaxWeightsBytes + 1
			return encode(t, a)
		}, ReasonWeightsSize},
		{"weights too small", func(t *testing.T) []byte { a := base(t); a.WeightsSize = 31; return encode(t, a) }, ReasonWeightsSize},
		{"stale", func(t *testing.T) []byte {
			a := base(t)
			a.SentAt = now.Add(-cfg.MaxAge - time.Second)
			return encode(t, a)
		}, ReasonStale},
		{"future", func(t *testing.T) []byte {
			a := base(t)
			a.SentAt = now.Add(cfg.MaxClockSkew + time.Second)
			return encode(t, a)
		}, ReasonFuture},
		{"origin not the signer", func(t *testing.T) []byte { a := base(t); a.Origin = other; return encode(t, a) }, ReasonOrigin},
		{"relayed by its origin", func(t *testing.T) []byte { a := base(t); a.Relayed = true; return encode(t, a) }, ReasonOrigin},
		{"genome", func(t *testing.T) []byte {
			b := encode(t, base(t))
			g, _ := base(t).Genome.MarshalBinary()
			b[len(b)-len(g)] = 'X' // the genome's magic
			return b
		}, ReasonGenome},
		{"frozen input", func(t *testing.T) []byte {
			a := base(t)
			a.Genome.Vertices[slices.IndexFunc(a.Genome.Vertices, func(v dna.Vertex) bool { return v.ID == a.Genome.InputVertex })].OutputsMutable = false
			return encode(t, a)
		}, ReasonGenome},
		{"frozen output", func(t *testing.T) []byte {
			a := base(t)
			a.Genome.Vertices[slices.IndexFunc(a.Genome.Vertices, func(v dna.Vertex) bool { return v.ID == a.Genome.OutputVertex })].InputsMutable = false
			return encode(t, a)
		}, ReasonGenome},
		{"out of bounds", func(t *testing.T) []byte {
			a := base(t)
			a.Genome.LearningRate = cfg.Bounds.MaxLR * 2
			return encode(t, a)
		}, ReasonBounds},
		{"lineage", func(t *testing.T) []byte {
			a := base(t)
			a.Lineage = []Ancestor{{ID: dna.ID{9}, Mutation: dna.AddSkip}}
			return encode(t, a)
		}, ReasonLineage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newValidator(&cfg, slog.New(slog.DiscardHandler), now)
			_, reason, err := v.check(tt.data(t), signer, now)
			if reason != tt.reason {
				t.Errorf("check = %q (%v), want %q", reason, err, tt.reason)
			}
		})
	}
	// With the data set's shape configured, a genome for another data set
	// is rejected before anyone fetches its weights.
	g := base(t).Genome
	for _, tc := range []struct {
		input   dna.Shape
		classes int
		reason  string
	}{
		{g.Input, g.Classes, ""},
		{dna.Shape{H: 32, W: 32, C: 3}, g.Classes, ReasonGenome},
		{g.Input, 100, ReasonGenome},
	} {
		c := cfg
		c.Input, c.Classes = tc.input, tc.classes
		v := newValidator(&c, slog.New(slog.DiscardHandler), now)
		if _, reason, err := v.check(encode(t, base(t)), signer, now); reason != tc.reason {
			t.Errorf("genome for %v, %d classes; swarm's data %v, %d: check = %q (%v), want %q",
				g.Input, g.Classes, tc.input, tc.classes, reason, err, tc.reason)
		}
	}
}

// Replays: the same individual announced twice as original (whoever signs
// the second) is rejected; each peer may relay it once.
func TestValidatorReplay(t *testing.T) {
	cfg := testConfig(t)
	now := time.Now()
	a, b, c := testPeerID(t), testPeerID(t), testPeerID(t)
	v := newValidator(&cfg, slog.New(slog.DiscardHandler), now)
	ann := testAnnouncement(t)
	ann.Experiment, ann.SentAt = testExperiment, now
	send := func(signer, origin peer.ID, relayed bool, sent time.Time) string {
		x := ann
		x.Origin, x.Relayed, x.SentAt = origin, relayed, sent
		data, err := x.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		_, reason, _ := v.check(data, signer, now)
		return reason
	}
	steps := []struct {
		name           string
		signer, origin peer.ID
		relayed        bool
		sent           time.Time
		want           string
	}{
		{"original", a, a, false, now, ""},
		{"same, resent later", a, a, false, now.Add(time.Second), ReasonReplay},
		{"claimed by another", b, b, false, now, ReasonReplay},
		{"relayed by b", b, a, true, now, ""},
		{"relayed by b again", b, a, true, now.Add(time.Second), ReasonReplay},
		{"relayed by c", c, a, true, now, ""},
	}
	for _, s := range steps {
		if got := send(s.signer, s.origin, s.relayed, s.sent); got != s.want {
			t.Errorf("%s: check = %q, want %q", s.name, got, s.want)
		}
	}
	// A rejected message does not claim the individual.
	v2 := newValidator(&cfg, slog.New(slog.DiscardHandler), now)
	bad := ann
	bad.Origin, bad.Fitness = a, 2
	data, _ := bad.MarshalBinary()
	if _, reason, _ := v2.check(data, a, now); reason != ReasonFitness {
		t.Fatalf("bad fitness: %q", reason)
	}
	good := ann
	good.Origin = a
	data, _ = good.MarshalBinary()
	if _, reason, _ := v2.check(data, a, now); reason != "" {
		t.Errorf("valid announcement after a rejected one of the same individual: %q", reason)
	}
}

// Anyone can forward a signer's old announcements: replays are rejected
// (costing the forwarder) before the signer's rate is charged, so that a
// flood of them neither uses up the signer's rate nor gets it penalised;
// the signer's own new announcements over its rate still are.
func TestReplaysDoNotChargeTheSigner(t *testing.T) {
	cfg := testConfig(t)
	now := time.Now()
	self, signer, forwarder := testPeerID(t), testPeerID(t), testPeerID(t)
	v := newValidator(&cfg, slog.New(slog.DiscardHandler), now)
	const burst = 3
	v.announceLimit = newRateBook(1e-9, burst, 0) // no refill within the test
	limited := map[peer.ID]int{}
	v.limited = func(p peer.ID) { limited[p]++ }
	rejected := map[peer.ID]int{}
	v.onReject = func(reason string, from peer.ID) { rejected[from]++ }
	validate := v.validate(self)
	deliver := func(from peer.ID, nonce uint64) pubsub.ValidationResult {
		a := testAnnouncement(t)
		a.Experiment, a.SentAt, a.Origin = testExperiment, now, signer
		a.Genome.Nonce = nonce
		data, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return validate(context.Background(), from, &pubsub.Message{Message: &pb.Message{Data: data, From: []byte(signer)}})
	}
	if got := deliver(signer, 1); got != pubsub.ValidationAccept {
		t.Fatalf("the signer's announcement: %v, want accepted", got)
	}
	for range 50 {
		if got := deliver(forwarder, 1); got != pubsub.ValidationReject {
			t.Fatalf("a replay: %v, want rejected", got)
		}
	}
	if limited[signer] != 0 || rejected[forwarder] != 50 || rejected[signer] != 0 {
		t.Errorf("after 50 replays: signer limited %d times (want 0), forwarder rejected %d (want 50), signer rejected %d (want 0)",
			limited[signer], rejected[forwarder], rejected[signer])
	}
	for i := range burst - 1 {
		if got := deliver(signer, uint64(2+i)); got != pubsub.ValidationAccept {
			t.Fatalf("the signer's new announcement %d within its rate: %v, want accepted", i+2, got)
		}
	}
	if got := deliver(signer, 100); got != pubsub.ValidationIgnore || limited[signer] != 1 {
		t.Errorf("a new announcement over the rate: %v, limited %d; want ignored and limited once", got, limited[signer])
	}
}
