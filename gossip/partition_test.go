package gossip

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

// TestPartitionAndHeal splits two groups of real swarms on 127.0.0.1 with
// Block, checks that migrants stay within each group while it lasts (and
// that the groups cannot reconnect), then heals with Unblock and Connect and
// checks that migrants cross again.
func TestPartitionAndHeal(t *testing.T) {
	a := []*Swarm{newSwarm(t), newSwarm(t)}
	b := []*Swarm{newSwarm(t), newSwarm(t)}
	all := append(append([]*Swarm{}, a...), b...)
	// Each group is connected internally; two links cross.
	connect(t, a[0], a[1])
	connect(t, b[0], b[1])
	connect(t, a[0], b[0])
	connect(t, a[1], b[1])
	for _, s := range all {
		waitTopicPeers(t, s, 2)
	}
	// Let gossipsub's heartbeat graft the meshes: a migrant published
	// before that reaches only its publisher's direct neighbours.
	time.Sleep(1500 * time.Millisecond)

	publish := func(s *Swarm) dna.ID {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ann := testAnnouncement(t)
		if err := s.Publish(ctx, ann); err != nil {
			t.Fatalf("publish from %s: %v", s.ID(), err)
		}
		return ann.Genome.ID()
	}
	// reaches publishes from src and waits until every one of dst has it.
	reaches := func(src *Swarm, dst []*Swarm) {
		t.Helper()
		id := publish(src)
		for _, d := range dst {
			recvFrom(t, d, map[peer.ID]dna.ID{src.ID(): id}, 10*time.Second)
		}
	}

	// Before the split: across the groups.
	reaches(a[0], []*Swarm{a[1], b[0], b[1]})
	reaches(b[1], []*Swarm{a[0], a[1], b[0]})

	// Split.
	for _, x := range a {
		for _, y := range b {
			x.Block(y.ID())
			y.Block(x.ID())
		}
	}
	waitFor(t, 5*time.Second, "the groups to disconnect", func() bool {
		for _, x := range a {
			for _, y := range b {
				if x.Host().Network().Connectedness(y.ID()) == network.Connected {
					return false
				}
			}
		}
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := a[0].Connect(ctx, addrInfo(t, b[0])); err == nil {
		t.Error("a blocked peer could be connected to during the partition")
	}
	cancel()
	// The blocked side dials in: its own gater lets it try, ours refuses.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	b[0].Unblock(a[0].ID())
	if err := b[0].Host().Connect(ctx, addrInfo(t, a[0])); err == nil {
		waitFor(t, 2*time.Second, "the refused connection to close", func() bool {
			return b[0].Host().Network().Connectedness(a[0].ID()) != network.Connected
		})
	}
	b[0].Block(a[0].ID())
	cancel()

	// During the split: several migrants each way, delivered within each
	// group and never across. Everything the four nodes receive is looked
	// at, until every migrant has reached its group and then for a quiet
	// while longer, in which any leak would arrive.
	const rounds = 3
	group := map[*Swarm]int{a[0]: 0, a[1]: 0, b[0]: 1, b[1]: 1}
	sentBy := map[dna.ID]int{} // migrant published during the split -> group
	got := map[*Swarm]map[dna.ID]bool{}
	for _, s := range all {
		got[s] = map[dna.ID]bool{}
	}
	for range rounds {
		sentBy[publish(a[0])] = 0
		sentBy[publish(b[0])] = 1
	}
	delivered := func() bool {
		for id, g := range sentBy {
			for _, s := range all {
				if group[s] == g && s.ID() != a[0].ID() && s.ID() != b[0].ID() && !got[s][id] {
					return false
				}
			}
		}
		return true
	}
	deadline := time.After(10 * time.Second)
	var quiet <-chan time.Time
	for done := false; !done; {
		var r Received
		var at *Swarm
		select {
		case <-deadline:
			t.Fatalf("migrants did not reach their own group within 10s: %v", got)
		case <-quiet:
			done = true
			continue
		case r = <-a[0].Migrants():
			at = a[0]
		case r = <-a[1].Migrants():
			at = a[1]
		case r = <-b[0].Migrants():
			at = b[0]
		case r = <-b[1].Migrants():
			at = b[1]
		}
		if g, ok := sentBy[r.ID]; ok {
			got[at][r.ID] = true
			if g != group[at] {
				t.Errorf("%s received %s (published in the other group during the partition) via %s", at.ID(), r.ID.Short(), r.Via)
			}
		}
		if quiet == nil && delivered() {
			quiet = time.After(1500 * time.Millisecond)
		}
	}
	for _, x := range a {
		for _, y := range b {
			if x.Host().Network().Connectedness(y.ID()) == network.Connected {
				t.Fatalf("%s and %s reconnected during the partition", x.ID(), y.ID())
			}
		}
	}

	// Heal: lift the blocks, reconnect one link; peer exchange and the
	// mesh do the rest.
	for _, x := range a {
		for _, y := range b {
			x.Unblock(y.ID())
			y.Unblock(x.ID())
		}
	}
	connect(t, a[0], b[0])
	connect(t, a[1], b[1])
	for _, s := range all {
		waitTopicPeers(t, s, 2)
	}
	// Let gossipsub's heartbeat graft the meshes: a migrant published
	// before that reaches only its publisher's direct neighbours.
	time.Sleep(1500 * time.Millisecond)
	reaches(a[1], []*Swarm{a[0], b[0], b[1]})
	reaches(b[0], []*Swarm{a[0], a[1], b[1]})

	// Stats: every node published and accepted what the test saw.
	for i, s := range all {
		st := s.Stats()
		if st.Accepted == 0 || st.Delay.Count != st.Accepted || st.Delay.P99Ms <= 0 {
			t.Errorf("node %d stats %+v: want accepted > 0, one delay per acceptance", i, st)
		}
	}
	if got := a[0].Stats().Published; got != 1+rounds {
		t.Errorf("a0 published %d, want %d", got, 1+rounds)
	}
}
