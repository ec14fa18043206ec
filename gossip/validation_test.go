package gossip

import (
	"bytes"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

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
