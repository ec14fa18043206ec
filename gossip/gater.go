package gossip

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// banList is the swarm's list of banned peers. It is the host's connection
// gater (banned peers can neither dial in nor be dialled) and pubsub's
// blacklist (their messages are dropped, even when good peers forward
// them). Bans expire after their duration.
type banList struct {
	mu       sync.Mutex
	until    map[peer.ID]time.Time
	duration time.Duration // for pubsub's Add
	now      func() time.Time
}

// maxBans bounds the list; beyond it, expired entries are swept and, if
// none has expired, the ban that ends first is dropped.
const maxBans = 1 << 14

func newBanList(d time.Duration) *banList {
	return &banList{until: make(map[peer.ID]time.Time), duration: d, now: time.Now}
}

// ban bans p until now+d and reports whether p was not already banned.
func (b *banList) ban(p peer.ID, d time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	end, was := b.until[p]
	was = was && now.Before(end)
	if len(b.until) >= maxBans {
		b.sweep(now)
	}
	if !end.After(now.Add(d)) {
		b.until[p] = now.Add(d)
	}
	return !was
}

func (b *banList) sweep(now time.Time) {
	var first peer.ID
	var firstEnd time.Time
	for p, end := range b.until {
		if !now.Before(end) {
			delete(b.until, p)
		} else if first == "" || end.Before(firstEnd) {
			first, firstEnd = p, end
		}
	}
	if len(b.until) >= maxBans {
		delete(b.until, first)
	}
}

// end returns when p's ban ends (the zero time when it is not banned).
func (b *banList) end(p peer.ID) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.until[p]
}

func (b *banList) banned(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	end, ok := b.until[p]
	if ok && !b.now().Before(end) {
		delete(b.until, p)
		return false
	}
	return ok
}

// Add implements pubsub.Blacklist.
func (b *banList) Add(p peer.ID) bool { return b.ban(p, b.duration) }

// Contains implements pubsub.Blacklist.
func (b *banList) Contains(p peer.ID) bool { return b.banned(p) }

// InterceptPeerDial implements connmgr.ConnectionGater.
func (b *banList) InterceptPeerDial(p peer.ID) bool { return !b.banned(p) }

// InterceptAddrDial implements connmgr.ConnectionGater.
func (b *banList) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !b.banned(p) }

// InterceptAccept implements connmgr.ConnectionGater: the peer is not known
// yet, so every connection proceeds to the handshake.
func (b *banList) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured implements connmgr.ConnectionGater.
func (b *banList) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !b.banned(p)
}

// InterceptUpgraded implements connmgr.ConnectionGater.
func (b *banList) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
