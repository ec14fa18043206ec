package node

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/gossip"
	"github.com/evoswarm/evoswarm/store"
)

// peerState keeps the swarm's bans and replay cache in the node's store,
// so that a restart does not forgive a banned peer nor accept a replayed
// announcement (gossip.PeerStore over store.SavePeers and LoadPeers).
type peerState struct{ s *store.Store }

func (p peerState) LoadPeers(now time.Time) (gossip.PeerRecords, error) {
	bans, marks, err := p.s.LoadPeers(now)
	if err != nil {
		return gossip.PeerRecords{}, err
	}
	var out gossip.PeerRecords
	for _, b := range bans {
		out.Bans = append(out.Bans, gossip.BanRecord{Peer: peer.ID(b.Peer), Until: b.Until, Reason: b.Reason})
	}
	for _, m := range marks {
		out.Replays = append(out.Replays, gossip.ReplayRecord{Key: m.Key, Until: m.Until})
	}
	return out, nil
}

func (p peerState) SavePeers(r gossip.PeerRecords) error {
	bans := make([]store.PeerBan, 0, len(r.Bans))
	for _, b := range r.Bans {
		bans = append(bans, store.PeerBan{Peer: string(b.Peer), Until: b.Until, Reason: b.Reason})
	}
	marks := make([]store.ReplayMark, 0, len(r.Replays))
	for _, m := range r.Replays {
		marks = append(marks, store.ReplayMark{Key: m.Key, Until: m.Until})
	}
	return p.s.SavePeers(bans, marks, time.Now())
}
