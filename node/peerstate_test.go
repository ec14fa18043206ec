package node

import (
	"context"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/gossip"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
	"github.com/evoswarm/evoswarm/train"
)

func newKey(t *testing.T) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keyedSwarm starts a loopback swarm with the given identity and peer
// store (nil: none); the caller closes it.
func keyedSwarm(t *testing.T, exp string, key crypto.PrivKey, ps gossip.PeerStore, bootstrap ...string) *gossip.Swarm {
	t.Helper()
	c := gossip.LoopbackConfig()
	c.ExperimentID, c.Identity, c.PeerStore, c.Bootstrap = exp, key, ps, bootstrap
	c.ScoreInspectInterval = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := gossip.New(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func until(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBansAndReplaysSurviveRestart: a node's swarm, wired to its Badger
// store on disk as the node wires it, bans a peer and accepts a migrant;
// the swarm and the store are closed and opened again. The banned peer is
// still refused, a replay of the migrant is still rejected, a new migrant
// from the same sender is accepted, and verify is clean with the new keys.
func TestBansAndReplaysSurviveRestart(t *testing.T) {
	e, _ := Preset("smoke")
	exp := e.FullID()
	dir := t.TempDir()
	open := func() *store.Store {
		s, err := store.Open(dir, store.Options{MinFreeBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	victimKey, senderKey := newKey(t), newKey(t)
	bad, err := libp2p.New(libp2p.Identity(newKey(t)), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	w := &train.Weights{Tensors: map[string]*train.Tensor{"fc/3/bias": {Shape: []int{10}, Data: make([]float32, 10)}}}
	blob, err := w.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := train.Digest(blob)
	announce := func(g *dna.Genome, from peer.ID) gossip.Announcement {
		return gossip.Announcement{Experiment: exp, Genome: g, Fitness: 0.4, WeightsDigest: digest, WeightsSize: int64(len(blob)), Origin: from}
	}
	g := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	g.Nonce = 42

	// First life: ban a peer, accept a migrant.
	st := open()
	victim := keyedSwarm(t, exp, victimKey, peerState{st})
	sender := keyedSwarm(t, exp, senderKey, nil, victim.Addrs()[0])
	if err := bad.Connect(ctx, peer.AddrInfo{ID: victim.ID(), Addrs: victim.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	until(t, 10*time.Second, "the sender and the victim on the topic", func() bool {
		return slices.Contains(victim.TopicPeers(), sender.ID()) && slices.Contains(sender.TopicPeers(), victim.ID())
	})
	if err := sender.Publish(ctx, announce(g, sender.ID())); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-victim.Migrants():
		if r.ID != g.ID() {
			t.Fatalf("received %s, want %s", r.ID.Short(), g.ID().Short())
		}
	case <-ctx.Done():
		t.Fatal("the migrant did not arrive")
	}
	victim.Penalize(bad.ID(), 2*gossip.DefaultConfig().MaxPenalty, "test: flooding")
	if !victim.Banned(bad.ID()) {
		t.Fatal("not banned after a penalty above MaxPenalty")
	}
	sender.Close()
	if err := victim.Close(); err != nil { // saves what is pending
		t.Fatal(err)
	}
	saved, skipped, failed := victim.PersistStats()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if saved < 2 || skipped != 0 || failed != 0 {
		t.Errorf("saved %d records (skipped %d, failed %d); want the ban and the replay mark", saved, skipped, failed)
	}

	// Between lives: verify reads the new keys and is clean.
	st = open()
	defer st.Close()
	if err := st.Verify(); err != nil {
		t.Errorf("verify with saved bans and replay marks: %v", err)
	}
	bans, marks, err := st.LoadPeers(time.Now())
	if err != nil || len(bans) != 1 || peer.ID(bans[0].Peer) != bad.ID() || len(marks) != 1 {
		t.Fatalf("LoadPeers = %d bans, %d marks, %v; want the one ban and the one mark", len(bans), len(marks), err)
	}
	t.Logf("saved: ban of %s until %s (%q), %d replay mark(s)", bad.ID().ShortString(), bans[0].Until.Format(time.RFC3339), bans[0].Reason, len(marks))

	// Second life.
	victim = keyedSwarm(t, exp, victimKey, peerState{st})
	defer victim.Close()
	if !victim.Banned(bad.ID()) {
		t.Error("the ban did not survive the restart")
	}
	cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
	err = bad.Connect(cctx, peer.AddrInfo{ID: victim.ID(), Addrs: victim.Host().Addrs()})
	ccancel()
	time.Sleep(100 * time.Millisecond)
	if err == nil && victim.Host().Network().Connectedness(bad.ID()) == network.Connected {
		t.Error("the banned peer connected after the restart")
	}
	// A new sender process with the same key (its own replay cache is
	// empty) sends the same individual again, then a new one.
	sender = keyedSwarm(t, exp, senderKey, nil, victim.Addrs()[0])
	defer sender.Close()
	until(t, 10*time.Second, "the sender and the victim on the topic", func() bool {
		return slices.Contains(victim.TopicPeers(), sender.ID()) && slices.Contains(sender.TopicPeers(), victim.ID())
	})
	time.Sleep(time.Second) // a heartbeat
	if err := sender.Publish(ctx, announce(g, sender.ID())); err != nil {
		t.Fatal(err)
	}
	until(t, 10*time.Second, "the replay to be rejected", func() bool { return victim.Rejections()[gossip.ReasonReplay] == 1 })
	g2 := g.Clone()
	g2.Nonce = 43
	if err := sender.Publish(ctx, announce(g2, sender.ID())); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-victim.Migrants():
		if r.ID != g2.ID() {
			t.Errorf("after the restart, received %s; want only the new individual %s", r.ID.Short(), g2.ID().Short())
		}
	case <-ctx.Done():
		t.Fatal("the new migrant did not arrive after the restart")
	}
}
