package gossip

import (
	"context"
	"fmt"
	ma "github.com/multiformats/go-multiaddr"
	"sync"
	"time"

	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// Discovery timings.
const (
	bootstrapMinBackoff = time.Second
	bootstrapMaxBackoff = time.Minute
	bootstrapCheck      = 10 * time.Second // how often a connected bootstrap peer is checked
	dialTimeout         = 15 * time.Second
	advertiseRetry      = time.Second     // first retry of a failed advertisement, doubling
	findFast            = 5 * time.Second // DHT lookups while few topic peers are connected
	findSlow            = time.Minute
	findLimit           = 64 // peers asked of one DHT lookup
	findTarget          = 8  // topic peers below which lookups stay fast
	mdnsServiceName     = "_evoswarm._udp"
)

// sleep waits d or until the swarm closes; it reports whether it is still
// open.
func (s *Swarm) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// keepConnected connects to a bootstrap peer at once, then keeps checking
// the connection and reconnects, backing off from 1 s to 1 min while the
// peer does not answer.
func (s *Swarm) keepConnected(ai peer.AddrInfo) {
	backoff := bootstrapMinBackoff
	for s.ctx.Err() == nil {
		if s.host.Network().Connectedness(ai.ID) != network.Connected && !s.bans.banned(ai.ID) {
			// Our backoff paces these attempts; the swarm's own dial
			// backoff (5 s and up after a failure) would skip them.
			if sw, ok := s.host.Network().(*swarm.Swarm); ok {
				sw.Backoff().Clear(ai.ID)
			}
			ctx, cancel := context.WithTimeout(s.ctx, dialTimeout)
			err := s.host.Connect(ctx, ai)
			cancel()
			if err != nil {
				s.log.Debug("bootstrap peer unreachable; retrying", "peer", ai.ID, "in", backoff, "err", err)
				if !s.sleep(backoff) {
					return
				}
				backoff = min(2*backoff, bootstrapMaxBackoff)
				continue
			}
			s.log.Info("connected to bootstrap peer", "peer", ai.ID)
		}
		backoff = bootstrapMinBackoff
		if !s.sleep(bootstrapCheck) {
			return
		}
	}
}

// rendezvous is the DHT key under which the experiment's nodes advertise.
func (s *Swarm) rendezvous() string { return "evoswarm/" + s.cfg.ExperimentID }

// startDHT starts kad-dht in server mode on the /evoswarm prefix, seeded
// with the bootstrap peers, and the advertise and find loops.
func (s *Swarm) startDHT(ctx context.Context) error {
	var err error
	s.dht, err = kaddht.New(s.host,
		kaddht.Mode(kaddht.ModeServer),
		kaddht.ProtocolPrefix(DHTProtocolPrefix),
		kaddht.BootstrapPeers(s.boot...),
	)
	if err != nil {
		return fmt.Errorf("gossip: DHT: %w", err)
	}
	if err := s.dht.Bootstrap(ctx); err != nil {
		return fmt.Errorf("gossip: DHT bootstrap: %w", err)
	}
	s.rd = drouting.NewRoutingDiscovery(s.dht)
	s.spawn(func() { s.advertise(s.rd) })
	s.spawn(func() { s.findPeers(s.rd) })
	return nil
}

// advertise keeps the node's rendezvous record fresh.
func (s *Swarm) advertise(rd *drouting.RoutingDiscovery) {
	retry := advertiseRetry
	for s.ctx.Err() == nil {
		ttl, err := rd.Advertise(s.ctx, s.rendezvous())
		wait := 7 * ttl / 8
		if err != nil || wait <= 0 {
			s.log.Debug("DHT advertise failed; retrying", "in", retry, "err", err)
			wait = retry
			retry = min(2*retry, findSlow)
		} else {
			retry = advertiseRetry
		}
		if !s.sleep(wait) {
			return
		}
	}
}

// findPeers looks up the rendezvous and connects to the peers found: every
// 5 s while the node has fewer than 8 topic peers, then every minute.
func (s *Swarm) findPeers(rd *drouting.RoutingDiscovery) {
	for s.ctx.Err() == nil {
		s.findOnce(rd)
		wait := findSlow
		if len(s.topic.ListPeers()) < findTarget {
			wait = findFast
		}
		if !s.sleep(wait) {
			return
		}
	}
}

func (s *Swarm) findOnce(rd *drouting.RoutingDiscovery) int {
	ctx, cancel := context.WithTimeout(s.ctx, dialTimeout)
	defer cancel()
	ch, err := rd.FindPeers(ctx, s.rendezvous(), discovery.Limit(findLimit))
	if err != nil {
		s.log.Debug("DHT lookup failed", "err", err)
		return 0
	}
	n := 0
	for ai := range ch {
		if ai.ID == s.host.ID() || len(ai.Addrs) == 0 {
			continue
		}
		n++
		if s.host.Network().Connectedness(ai.ID) == network.Connected || s.bans.banned(ai.ID) {
			continue
		}
		if err := s.host.Connect(ctx, ai); err != nil {
			if s.connectViaRelay(ctx, ai.ID) {
				continue
			}
			s.log.Debug("could not connect to a peer found in the DHT", "peer", ai.ID, "err", err)
			continue
		}
		s.log.Debug("connected to a peer found in the DHT", "peer", ai.ID)
	}
	return n
}

// connectViaRelay reaches a peer that cannot be dialled directly (both
// behind NAT) through a circuit on one of our bootstrap peers, which may be
// relays: /p2p/<relay>/p2p-circuit/p2p/<peer>. Relays on private networks
// hand out no circuit addresses of their own (libp2p advertises public
// addresses only), so the circuit is built here from the relay's identity;
// the relay must hold a reservation for the peer. Once connected, DCUtR
// may upgrade the connection to a direct one.
func (s *Swarm) connectViaRelay(ctx context.Context, p peer.ID) bool {
	if !s.cfg.NAT {
		return false
	}
	for _, relay := range s.boot {
		if s.host.Network().Connectedness(relay.ID) != network.Connected {
			continue
		}
		circuit, err := ma.NewMultiaddr("/p2p/" + relay.ID.String() + "/p2p-circuit")
		if err != nil {
			continue
		}
		if err := s.host.Connect(ctx, peer.AddrInfo{ID: p, Addrs: []ma.Multiaddr{circuit}}); err != nil {
			s.log.Debug("could not reach a peer through a relay", "peer", p, "relay", relay.ID, "err", err)
			continue
		}
		s.log.Info("connected to a peer through a relay", "peer", p, "relay", relay.ID)
		return true
	}
	return false
}

// mdnsNotifee connects to peers found on the local network: one dial a
// peer at a time, at most maxMDNSDials at once, so that a host on the LAN
// answering with many fake peers costs a bounded number of goroutines.
type mdnsNotifee struct {
	s       *Swarm
	mu      sync.Mutex
	dialing map[peer.ID]bool
}

// maxMDNSDials bounds the dials to peers found by mDNS under way at once.
const maxMDNSDials = 16

func newMDNSNotifee(s *Swarm) *mdnsNotifee {
	return &mdnsNotifee{s: s, dialing: map[peer.ID]bool{}}
}

func (n *mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	s := n.s
	if ai.ID == s.host.ID() || s.bans.banned(ai.ID) || s.host.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	n.mu.Lock()
	if n.dialing[ai.ID] || len(n.dialing) >= maxMDNSDials {
		n.mu.Unlock()
		return // mDNS answers again: a peer skipped now is found later
	}
	n.dialing[ai.ID] = true
	n.mu.Unlock()
	if !s.spawn(func() {
		defer n.done(ai.ID)
		ctx, cancel := context.WithTimeout(s.ctx, dialTimeout)
		defer cancel()
		if err := s.host.Connect(ctx, ai); err != nil {
			s.log.Debug("could not connect to a peer found by mDNS", "peer", ai.ID, "err", err)
			return
		}
		s.log.Debug("connected to a peer found by mDNS", "peer", ai.ID)
	}) {
		n.done(ai.ID)
	}
}

func (n *mdnsNotifee) done(p peer.ID) {
	n.mu.Lock()
	delete(n.dialing, p)
	n.mu.Unlock()
}
