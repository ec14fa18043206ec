package gossip

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// blockDuration is how long Block refuses a peer: until Unblock, in
// practice.
const blockDuration = 100 * 365 * 24 * time.Hour

// Block cuts this node off from p until Unblock: p is disconnected, the
// connection gater refuses its connections both ways, and pubsub drops its
// messages, even when other peers forward them. It is the ban mechanism
// without the ban's expiry, for partition tests and operators isolating a
// peer by hand.
func (s *Swarm) Block(p peer.ID) {
	if p == s.host.ID() {
		return
	}
	s.bans.ban(p, blockDuration)
	s.host.Network().ClosePeer(p)
	s.log.Info("blocked peer", "peer", p)
}

// Unblock lifts a Block (or a ban) of p and clears the dial backoff that
// refused dials left, so that Connect, bootstrap reconnection and peer
// exchange may reach p again at once. It does not reconnect by itself.
func (s *Swarm) Unblock(p peer.ID) {
	s.bans.mu.Lock()
	delete(s.bans.until, p)
	s.bans.mu.Unlock()
	if sw, ok := s.host.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(p)
	}
	s.log.Info("unblocked peer", "peer", p)
}
