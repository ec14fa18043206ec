package gossip

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Four nodes bootstrap to the first (a star, with peer exchange on); each
// publishes one migrant and every other node receives it, with its fields
// intact and the publisher as From.
func TestMigrantsFlow(t *testing.T) {
	hub := newSwarm(t)
	nodes := []*Swarm{hub}
	for range 3 {
		nodes = append(nodes, newSwarm(t, func(c *Config) { c.Bootstrap = hub.Addrs() }))
	}
	waitTopicPeers(t, hub, 3)
	for _, n := range nodes[1:] {
		waitTopicPeers(t, n, 1)
	}
	// Let gossipsub's heartbeat graft the hub's mesh.
	time.Sleep(1500 * time.Millisecond)

	sent := make(map[peer.ID]Announcement)
	for i, n := range nodes {
		a := testAnnouncement(t)
		a.Fitness = 0.25 + 0.1*float64(i)
		a.Lineage = nil
		if i == 1 { // a child, with a lineage
			parent := a.Genome.Clone()
			a.Genome.Parent, a.Genome.Mutation = parent.ID(), dna.AlterLearningRate
			a.Lineage = []Ancestor{{ID: parent.ID(), Mutation: dna.None}}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := n.Publish(ctx, a); err != nil {
			t.Fatalf("node %d: Publish: %v", i, err)
		}
		cancel()
		a.ID = a.Genome.ID()
		sent[n.ID()] = a
	}
	for i, n := range nodes {
		want := make(map[peer.ID]dna.ID)
		for id, a := range sent {
			if id != n.ID() {
				want[id] = a.ID
			}
		}
		got := recvFrom(t, n, want, 15*time.Second)
		for from, r := range got {
			a := sent[from]
			switch {
			case r.Origin != from || r.Relayed:
				t.Errorf("node %d: migrant from %s has origin %s, relayed %v", i, from, r.Origin, r.Relayed)
			case r.Fitness != a.Fitness || r.WeightsDigest != a.WeightsDigest || r.WeightsSize != a.WeightsSize:
				t.Errorf("node %d: migrant from %s: fitness %v digest %x size %d, want %v %x %d", i, from,
					r.Fitness, r.WeightsDigest[:4], r.WeightsSize, a.Fitness, a.WeightsDigest[:4], a.WeightsSize)
			case r.Experiment != testExperiment || len(r.Lineage) != len(a.Lineage):
				t.Errorf("node %d: migrant from %s: experiment %q, lineage %v", i, from, r.Experiment, r.Lineage)
			case r.Genome.ID() != a.ID:
				t.Errorf("node %d: migrant from %s: genome ID %s, want %s", i, from, r.Genome.ID().Short(), a.ID.Short())
			}
		}
	}
	// Nobody receives its own migrant, and nothing was rejected or dropped.
	for i, n := range nodes {
		select {
		case r := <-n.Migrants():
			if r.From == n.ID() {
				t.Errorf("node %d received its own migrant", i)
			}
		default:
		}
		for reason, c := range n.Rejections() {
			if c != 0 {
				t.Errorf("node %d rejected %d messages as %s", i, c, reason)
			}
		}
		if d := n.Dropped(); d != 0 {
			t.Errorf("node %d dropped %d migrants", i, d)
		}
	}
}

// Publish refuses what peers would reject, before sending it.
func TestPublishRefuses(t *testing.T) {
	s := newSwarm(t, func(c *Config) { c.MaxAnnouncementSize = 512 })
	ctx := context.Background()
	tests := []struct {
		name string
		edit func(*Announcement)
		want error
		text string
	}{
		{"too large", func(a *Announcement) {
			a.Lineage = make([]Ancestor, MaxLineage)
			for i := range a.Lineage {
				a.Lineage[i].ID[0] = byte(i + 1)
			}
			a.Genome.Parent, a.Genome.Mutation = a.Lineage[0].ID, dna.AddSkip
		}, ErrTooLarge, ""},
		{"fitness", func(a *Announcement) { a.Fitness = 1.5 }, ErrInvalid, ReasonFitness},
		{"weights size", func(a *Announcement) { a.WeightsSize = DefaultMaxWeightsBytes + 1 }, ErrInvalid, ReasonWeightsSize},
		{"experiment", func(a *Announcement) { a.Experiment = "exp-other" }, ErrInvalid, ReasonExperiment},
		{"origin", func(a *Announcement) { a.Origin = peer.ID("x") }, ErrInvalid, ReasonOrigin},
		{"bounds", func(a *Announcement) { a.Genome.LearningRate = 50 }, ErrInvalid, ReasonBounds},
		{"no genome", func(a *Announcement) { a.Genome = nil }, ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testAnnouncement(t)
			tt.edit(&a)
			err := s.Publish(ctx, a)
			if !errors.Is(err, tt.want) || !strings.Contains(errString(err), tt.text) {
				t.Errorf("Publish = %v, want an error wrapping %v naming %q", err, tt.want, tt.text)
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		a := testAnnouncement(t)
		if err := s.Publish(ctx, a); err != nil {
			t.Fatalf("first Publish: %v", err)
		}
		if err := s.Publish(ctx, a); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), ReasonReplay) {
			t.Errorf("second Publish = %v, want a replay error", err)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Close is idempotent, closes Migrants, and later calls fail with ErrClosed.
func TestClose(t *testing.T) {
	s := newSwarm(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case _, ok := <-s.Migrants():
		if ok {
			t.Fatal("Migrants delivered after Close")
		}
	case <-time.After(time.Second):
		t.Fatal("Migrants not closed by Close")
	}
	if err := s.Publish(context.Background(), testAnnouncement(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

// New returns libp2p's real error, not fx noise: here, a listen address
// of a transport the swarm does not run (websocket).
func TestNewReportsHostError(t *testing.T) {
	c := testConfig(t)
	c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0/ws"}
	s, err := New(context.Background(), c)
	if err == nil {
		s.Close()
		t.Fatal("New with a websocket listen address succeeded")
	}
	t.Logf("New: %v", err)
	if !strings.Contains(err.Error(), "no transport for protocol") || !strings.Contains(err.Error(), "/ws") {
		t.Errorf("New = %v, want the cause and the address", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		field string
		edit  func(*Config)
	}{
		{"ExperimentID", func(c *Config) { c.ExperimentID = "" }},
		{"ExperimentID", func(c *Config) { c.ExperimentID = "a/b" }},
		{"Identity", func(c *Config) { c.Identity = nil }},
		{"ListenAddrs", func(c *Config) { c.ListenAddrs = []string{"not an address"} }},
		{"ListenAddrs", func(c *Config) {
			c.SwarmKey = make([]byte, 32)
			c.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"}
		}},
		{"Bootstrap", func(c *Config) { c.Bootstrap = []string{"/ip4/127.0.0.1/tcp/1"} }},
		{"Bounds", func(c *Config) { c.Bounds.MaxFilter = 4 }},
		{"MaxAnnouncementSize", func(c *Config) { c.MaxAnnouncementSize = c.MaxMessageSize }},
		{"MaxPenalty", func(c *Config) { c.MaxPenalty = 0 }},
		{"FetchAttempts", func(c *Config) { c.FetchAttempts = 0 }},
	}
	for _, tt := range tests {
		c := testConfig(t)
		tt.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("Validate = %v, want an error naming %s", err, tt.field)
		}
	}
	c := testConfig(t)
	if err := c.Validate(); err != nil {
		t.Errorf("Validate(testConfig) = %v", err)
	}
	d := DefaultConfig()
	d.ExperimentID, d.Identity = testExperiment, testKey(t)
	if err := d.Validate(); err != nil {
		t.Errorf("Validate(DefaultConfig) = %v", err)
	}
	want := []string{"/ip4/0.0.0.0/tcp/0", "/ip6/::/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1", "/ip6/::/udp/0/quic-v1"}
	if got := d.listenAddrs(); !slices.Equal(got, want) {
		t.Errorf("default listen addrs %v, want TCP and QUIC on IPv4 and IPv6: %v", got, want)
	}
	d.SwarmKey = make([]byte, 32)
	if got := d.listenAddrs(); !slices.Equal(got, want[:2]) {
		t.Errorf("private swarm listen addrs %v, want TCP only: %v", got, want[:2])
	}
}
