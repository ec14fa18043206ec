package gossip

import (
	"bytes"
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

// rogue is a hostile peer: a plain libp2p host with its own pubsub on the
// experiment's topic, no validator, publishing whatever bytes it is given
// (signed with its own key, as StrictSign demands).
type rogue struct {
	id    peer.ID
	h     host.Host
	topic *pubsub.Topic
}

func newRogue(t *testing.T, maxMessageSize int) *rogue {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(testKey(t)), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); h.Close() })
	// Flood publishing: the rogue sends to every honest node directly,
	// whatever their meshes (they prune it as soon as it misbehaves).
	opts := []pubsub.Option{pubsub.WithMessageIdFn(messageID), pubsub.WithMaxMessageSize(maxMessageSize), pubsub.WithFloodPublish(true)}
	if l := testLogger(); l != nil {
		opts = append(opts, pubsub.WithLogger(l.With("rogue", h.ID().ShortString())))
	}
	ps, err := pubsub.NewGossipSub(ctx, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(TopicName(testExperiment))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := topic.Subscribe(); err != nil {
		t.Fatal(err)
	}
	return &rogue{id: h.ID(), h: h, topic: topic}
}

func (r *rogue) join(t *testing.T, honest []*Swarm) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range honest {
		if err := r.h.Connect(ctx, addrInfo(t, s)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the rogue to see the honest nodes on the topic", func() bool {
		return len(r.topic.ListPeers()) >= len(honest)
	})
}

func (r *rogue) publish(t *testing.T, data []byte) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.topic.Publish(ctx, data)
}

// announcement returns a valid announcement signed (originally) by r.
func (r *rogue) announcement(t *testing.T) Announcement {
	a := testAnnouncement(t)
	a.Experiment, a.Origin, a.SentAt = testExperiment, r.id, time.Now()
	return a
}

func encodeAnn(t *testing.T, a Announcement) []byte {
	t.Helper()
	data, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Rogue peers send every kind of bad message. Each is rejected and counted
// by reason on every honest node; a message above the transport limit never
// gets through; the rogue that keeps sending junk falls below the graylist
// threshold; honest migrants keep flowing.
func TestHostilePeers(t *testing.T) {
	var mu sync.Mutex
	hooked := make(map[string]uint64) // OnReject calls, over all honest nodes
	onReject := func(c *Config) {
		c.OnReject = func(reason string, _ peer.ID) {
			mu.Lock()
			hooked[reason]++
			mu.Unlock()
		}
	}
	// Node 2 bans a peer the first time it is graylisted.
	honest := []*Swarm{newSwarm(t, onReject), newSwarm(t, onReject), newSwarm(t, onReject, func(c *Config) { c.BanStrikes = 1 })}
	connect(t, honest[1], honest[0])
	connect(t, honest[2], honest[0])
	connect(t, honest[2], honest[1])
	for _, s := range honest {
		waitTopicPeers(t, s, 2)
	}
	time.Sleep(1200 * time.Millisecond) // a heartbeat to graft the mesh

	// Honest traffic first, so that every node has seen node 0's individual.
	first := testAnnouncement(t)
	if err := honest[0].Publish(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	for _, s := range honest[1:] {
		recvFrom(t, s, map[peer.ID]dna.ID{honest[0].ID(): first.Genome.ID()}, 10*time.Second)
	}

	r1, r2, r3, r4 := newRogue(t, DefaultMaxMessageSize), newRogue(t, DefaultMaxMessageSize),
		newRogue(t, DefaultMaxMessageSize), newRogue(t, DefaultMaxMessageSize)
	big := newRogue(t, 4<<20) // sends what the honest transport refuses
	for _, r := range []*rogue{r1, r2, r3, r4, big} {
		r.join(t, honest)
	}
	t.Logf("honest %s %s %s; rogues %s %s %s %s, big %s", honest[0].ID(), honest[1].ID(), honest[2].ID(), r1.id, r2.id, r3.id, r4.id, big.id)

	want := make(map[string]uint64)
	// send publishes data from r and waits until every honest node has
	// counted it under reason.
	send := func(r *rogue, reason string, data []byte) {
		t.Helper()
		if err := r.publish(t, data); err != nil {
			t.Fatalf("rogue publish (%s): %v", reason, err)
		}
		want[reason]++
		waitFor(t, 10*time.Second, "rejection as "+reason, func() bool {
			for _, s := range honest {
				if s.Rejections()[reason] < want[reason] {
					return false
				}
			}
			return true
		})
	}

	// Each of r1..r3 sends four bad messages (score -1600: silenced for
	// gossip and publishing, not graylisted).
	send(r1, ReasonMalformed, []byte("\x00\x01 definitely not an announcement"))
	send(r1, ReasonOversized, bytes.Repeat([]byte{0xab}, DefaultMaxAnnouncementSize+1024))
	version := encodeAnn(t, r1.announcement(t))
	version[4] = 7
	send(r1, ReasonVersion, version)
	wrongExp := r1.announcement(t)
	wrongExp.Experiment = "exp-ffffffffffffffff"
	send(r1, ReasonExperiment, encodeAnn(t, wrongExp))

	fit := r2.announcement(t)
	fit.Fitness = 1.5
	send(r2, ReasonFitness, encodeAnn(t, fit))
	heavy := r2.announcement(t)
	heavy.WeightsSize = DefaultMaxWeightsBytes * 4
	send(r2, ReasonWeightsSize, encodeAnn(t, heavy))
	stale := r2.announcement(t)
	stale.SentAt = time.Now().Add(-time.Hour)
	send(r2, ReasonStale, encodeAnn(t, stale))
	future := r2.announcement(t)
	future.SentAt = time.Now().Add(time.Hour)
	send(r2, ReasonFuture, encodeAnn(t, future))

	forged := r3.announcement(t)
	forged.Origin = honest[1].ID() // claims to be original, but r3 signs it
	send(r3, ReasonOrigin, encodeAnn(t, forged))
	garbled := encodeAnn(t, r3.announcement(t))
	g, _ := first.Genome.MarshalBinary()
	garbled[len(garbled)-len(g)] = 'Z' // the genome's magic
	send(r3, ReasonGenome, garbled)
	huge := r3.announcement(t)
	huge.Genome.LearningRate = 10 // above the bounds' MaxLR of 2
	send(r3, ReasonBounds, encodeAnn(t, huge))
	lineage := r3.announcement(t)
	lineage.Lineage = []Ancestor{{ID: dna.ID{0xbb}, Mutation: dna.AddSkip}} // but the genome has no parent
	send(r3, ReasonLineage, encodeAnn(t, lineage))

	// r4: a valid migrant (accepted), then replays, then junk until
	// graylisted.
	valid := r4.announcement(t)
	if err := r4.publish(t, encodeAnn(t, valid)); err != nil {
		t.Fatal(err)
	}
	for _, s := range honest {
		recvFrom(t, s, map[peer.ID]dna.ID{r4.id: valid.Genome.ID()}, 10*time.Second)
	}
	resent := valid
	resent.SentAt = valid.SentAt.Add(time.Second) // new bytes, same individual
	send(r4, ReasonReplay, encodeAnn(t, resent))
	stolen := r4.announcement(t)
	stolen.Genome = first.Genome // honest node 0's individual, claimed as r4's own
	send(r4, ReasonReplay, encodeAnn(t, stolen))
	nan := r4.announcement(t)
	nan.Fitness = math.NaN()
	send(r4, ReasonFitness, encodeAnn(t, nan))
	for i := range 3 {
		send(r4, ReasonMalformed, []byte{byte(i), 'j', 'u', 'n', 'k'})
	}
	// Six invalid messages: 6² × -100 = -3600 < GraylistThreshold.
	for i, s := range honest {
		waitFor(t, 5*time.Second, "the rogue's score to fall below the graylist threshold", func() bool {
			return s.Score(r4.id) < GraylistThreshold
		})
		t.Logf("honest %d: scores r1 %.0f, r2 %.0f, r3 %.0f, r4 %.0f (graylist %d)", i,
			s.Score(r1.id), s.Score(r2.id), s.Score(r3.id), s.Score(r4.id), GraylistThreshold)
		for _, r := range []*rogue{r1, r2, r3} {
			if sc := s.Score(r.id); sc >= PublishThreshold {
				t.Errorf("honest %d: rogue with 4 rejections has score %.0f, want below %d", i, sc, PublishThreshold)
			}
		}
	}
	// Node 2 (BanStrikes 1) has banned r4: disconnected, and refused.
	waitFor(t, 5*time.Second, "node 2 to ban and disconnect r4", func() bool {
		return honest[2].Banned(r4.id) && !slices.Contains(honest[2].Peers(), r4.id)
	})
	for i, s := range honest[:2] {
		if s.Banned(r4.id) {
			t.Errorf("honest %d (BanStrikes 3) banned r4 after one strike", i)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	r4.h.Connect(ctx, addrInfo(t, honest[2]))
	cancel()
	time.Sleep(200 * time.Millisecond)
	if slices.Contains(honest[2].Peers(), r4.id) {
		t.Error("a banned rogue reconnected")
	}
	// Graylisted: what r4 sends now is not even validated.
	if err := r4.publish(t, []byte("more junk")); err != nil {
		t.Fatal(err)
	}

	// Above the transport limit: pubsub with the same limit as ours drops
	// it silently at publish (FACTS: Publish returns nil) ...
	tooBig := bytes.Repeat([]byte{0xcd}, DefaultMaxMessageSize+1024)
	if err := r1.publish(t, tooBig); err != nil {
		t.Logf("pubsub now refuses an oversized publish: %v", err)
	}
	// ... and from a peer with a larger limit, the honest nodes' transport
	// refuses it: it is never validated nor delivered.
	if err := big.publish(t, tooBig); err != nil {
		t.Fatalf("big rogue publish: %v", err)
	}
	time.Sleep(time.Second)

	// Honest migrants still flow, in every direction.
	sent := make(map[peer.ID]dna.ID)
	for i, s := range honest {
		a := testAnnouncement(t)
		if err := s.Publish(context.Background(), a); err != nil {
			t.Fatalf("honest %d: Publish: %v", i, err)
		}
		sent[s.ID()] = a.Genome.ID()
	}
	for _, s := range honest {
		others := make(map[peer.ID]dna.ID)
		for id, g := range sent {
			if id != s.ID() {
				others[id] = g
			}
		}
		got := recvFrom(t, s, others, 15*time.Second)
		for _, r := range got {
			if r.From == r4.id || r.From == big.id {
				t.Errorf("%s: delivered a migrant from a rogue", s.ID())
			}
		}
	}

	// Exactly the expected rejections on every node, reported to the hook.
	for i, s := range honest {
		got := s.Rejections()
		for _, reason := range Reasons() {
			if got[reason] != want[reason] {
				t.Errorf("honest %d: %d rejections as %s, want %d", i, got[reason], reason, want[reason])
			}
		}
		t.Logf("honest %d rejections: %v", i, got)
	}
	mu.Lock()
	defer mu.Unlock()
	for reason, n := range want {
		if hooked[reason] != n*uint64(len(honest)) {
			t.Errorf("OnReject saw %d rejections as %s, want %d", hooked[reason], reason, n*uint64(len(honest)))
		}
	}
}

// A genome with frozen vertices (rule 10b, which nodes of older versions
// do not check and so forward) is ignored, not rejected: it is counted
// under "genome" and never delivered, the OnReject hook (rejections, which
// cost the delivering peer score) is not called, and its signer is
// penalised instead.
func TestFrozenGenomeIgnored(t *testing.T) {
	var hooked atomic.Uint64
	onReject := func(c *Config) { c.OnReject = func(string, peer.ID) { hooked.Add(1) } }
	honest := []*Swarm{newSwarm(t, onReject), newSwarm(t, onReject)}
	connect(t, honest[1], honest[0])
	for _, s := range honest {
		waitTopicPeers(t, s, 1)
	}
	r := newRogue(t, DefaultMaxMessageSize)
	r.join(t, honest)

	frozen := r.announcement(t)
	for i, v := range frozen.Genome.Vertices {
		if v.ID == frozen.Genome.InputVertex {
			frozen.Genome.Vertices[i].OutputsMutable = false
		}
	}
	if err := r.publish(t, encodeAnn(t, frozen)); err != nil {
		t.Fatal(err)
	}
	for i, s := range honest {
		waitFor(t, 10*time.Second, "the frozen genome to be counted", func() bool { return s.Rejections()[ReasonGenome] == 1 })
		waitFor(t, 5*time.Second, "the signer to be penalised", func() bool { return s.Score(r.id) <= -FrozenGenomePenalty+30 })
		select {
		case m := <-s.Migrants():
			t.Errorf("honest %d delivered the frozen genome %s", i, m.Announcement.Genome.ID().Short())
		case <-time.After(300 * time.Millisecond):
		}
	}
	if n := hooked.Load(); n != 0 {
		t.Errorf("OnReject called %d times for an ignored announcement", n)
	}

	// The same rogue's valid migrant still gets through.
	valid := r.announcement(t)
	if err := r.publish(t, encodeAnn(t, valid)); err != nil {
		t.Fatal(err)
	}
	for _, s := range honest {
		recvFrom(t, s, map[peer.ID]dna.ID{r.id: valid.Genome.ID()}, 10*time.Second)
	}
}
