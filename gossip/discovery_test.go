package gossip

import (
	"context"
	"fmt"
	ma "github.com/multiformats/go-multiaddr"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/peer"
)

// lookup returns the peers the rendezvous lookup finds.
func lookup(t *testing.T, s *Swarm) []peer.ID {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch, err := s.rd.FindPeers(ctx, s.rendezvous(), discovery.Limit(findLimit))
	if err != nil {
		return nil
	}
	var out []peer.ID
	for ai := range ch {
		out = append(out, ai.ID)
	}
	return out
}

// With the DHT on, nodes that only know the bootstrap node find each other
// through the rendezvous on the experiment ID and connect directly.
func TestDHTRendezvous(t *testing.T) {
	if testing.Short() {
		t.Skip("DHT rendezvous takes several seconds")
	}
	dht := func(c *Config) { c.DHT = true }
	hub := newSwarm(t, dht)
	var nodes []*Swarm
	for range 3 {
		nodes = append(nodes, newSwarm(t, dht, func(c *Config) { c.Bootstrap = hub.Addrs() }))
	}
	start := time.Now()
	for i, n := range nodes {
		waitFor(t, 30*time.Second, "peers found through the DHT", func() bool {
			peers := n.Peers()
			for _, m := range nodes {
				if m != n && !slices.Contains(peers, m.ID()) {
					return false
				}
			}
			return true
		})
		t.Logf("node %d connected to its %d peers after %v", i, len(n.Peers()), time.Since(start).Round(time.Millisecond))
	}
	// The rendezvous itself: every node's lookup finds the others.
	all := append([]*Swarm{hub}, nodes...)
	for i, n := range all {
		waitFor(t, 30*time.Second, "the rendezvous lookup to find every node", func() bool {
			found := lookup(t, n)
			for _, m := range all {
				if m != n && !slices.Contains(found, m.ID()) {
					return false
				}
			}
			return true
		})
		t.Logf("node %d: rendezvous finds every node after %v", i, time.Since(start).Round(time.Millisecond))
	}
}

// A bootstrap peer that is down at start is connected to once it comes up.
func TestBootstrapRetry(t *testing.T) {
	hub := newSwarm(t)
	addrs := hub.Addrs()
	listen := hub.Host().Addrs()[0].String()
	key := hub.cfg.Identity
	hub.Close()
	node := newSwarm(t, func(c *Config) { c.Bootstrap = addrs })
	time.Sleep(1500 * time.Millisecond) // at least one failed attempt
	if len(node.Peers()) != 0 {
		t.Fatal("connected to a closed bootstrap peer")
	}
	// The same identity and address come back.
	newSwarm(t, func(c *Config) {
		c.Identity = key
		c.ListenAddrs = []string{listen}
	})
	waitFor(t, 15*time.Second, "reconnection to the bootstrap peer", func() bool { return len(node.Peers()) == 1 })
}

// TestMDNSDialsBounded: a LAN host answering with many peers (fake, or
// the same one again and again) costs a bounded number of dials.
func TestMDNSDialsBounded(t *testing.T) {
	s := newSwarm(t)
	n := newMDNSNotifee(s)
	// A loopback listener that accepts and never speaks: every dial to it
	// waits for its handshake until the test ends.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	addr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", l.Addr().(*net.TCPAddr).Port))
	for range 200 {
		n.HandlePeerFound(peer.AddrInfo{ID: testPeerID(t), Addrs: []ma.Multiaddr{addr}})
	}
	same := testPeerID(t)
	for range 50 {
		n.HandlePeerFound(peer.AddrInfo{ID: same, Addrs: []ma.Multiaddr{addr}})
	}
	n.mu.Lock()
	dialing := len(n.dialing)
	n.mu.Unlock()
	if dialing == 0 || dialing > maxMDNSDials {
		t.Errorf("%d dials under way after 250 answers, want 1 to %d", dialing, maxMDNSDials)
	}
}
