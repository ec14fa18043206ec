package gossip

import (
	"context"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Hole punching, retried.
//
// DCUtR (go-libp2p's hole punching) runs once per relayed connection: the
// side that receives it asks the other side to punch, and that works only
// if the other side already serves the DCUtR protocol, which go-libp2p
// does once it has learned a public observed address. A volunteer that
// dials a peer through the relay right after it started (as discovery does
// within a second) can lose that race: the request is refused, nothing
// retries, and the two stay on the relay for good although their NATs
// would let a hole through (3 of 7 runs of scripts/nat-lab.sh; both
// sides starting DCUtR at once and resetting each other's stream did the
// same). So, when two peers have been connected only through relays for a
// while, the one with the smaller peer ID closes those connections and
// dials the other again through the same relay: the other sees a new
// inbound relayed connection and starts DCUtR again. A few times per peer
// at growing intervals, then never again while they stay connected.

// punchRetryAfter are the times a peer must have been reachable only
// through relays before each retry.
var punchRetryAfter = []time.Duration{3 * time.Second, 15 * time.Second, 45 * time.Second}

const punchRetryTick = time.Second

// maxPunchPeers bounds the retry state kept for peers that were reachable
// only through relays and are gone: beyond it, gone peers are forgotten.
const maxPunchPeers = 4096

// startPunchRetry runs the retries for h until its network closes,
// logging to log (nil: nowhere).
func startPunchRetry(h host.Host, log *slog.Logger) {
	done, ok := h.Network().(interface{ Done() <-chan struct{} })
	if !ok {
		return
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "gossip")
	go func() {
		type state struct {
			since time.Time // relayed-only since
			tries int
		}
		peers := map[peer.ID]*state{}
		t := time.NewTicker(punchRetryTick)
		defer t.Stop()
		for {
			select {
			case <-done.Done():
				return
			case <-t.C:
			}
			now := time.Now()
			seen := map[peer.ID]bool{}
			for _, p := range h.Network().Peers() {
				conns := h.Network().ConnsToPeer(p)
				var circuits []ma.Multiaddr
				for _, c := range conns {
					if !isRelayed(c.RemoteMultiaddr()) {
						circuits = nil
						break
					}
					circuits = append(circuits, c.RemoteMultiaddr())
				}
				if len(circuits) == 0 {
					continue // direct (or gone)
				}
				seen[p] = true
				st := peers[p]
				if st == nil {
					st = &state{}
					peers[p] = st
				}
				if st.since.IsZero() {
					st.since = now
				}
				if h.ID() > p || st.tries >= len(punchRetryAfter) || now.Sub(st.since) < punchRetryAfter[st.tries] {
					continue
				}
				st.tries++
				log.Info("still connected only through a relay; dialling again to retry hole punching", "peer", p, "try", st.tries)
				for _, c := range conns {
					c.Close()
				}
				ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(context.Background(), "hole-punch retry"), 10*time.Second)
				if err := h.Connect(ctx, peer.AddrInfo{ID: p, Addrs: circuits}); err != nil {
					log.Debug("could not dial a peer again through a relay", "peer", p, "err", err)
				}
				cancel()
			}
			for p, st := range peers {
				switch {
				case seen[p]:
				case h.Network().Connectedness(p) == network.Connected:
					delete(peers, p) // direct now
				case len(peers) > maxPunchPeers:
					delete(peers, p) // a bound: gone peers are forgotten first
				default:
					st.since = time.Time{} // gone: the tries count on if it comes back relayed
				}
			}
		}
	}()
}

// isRelayed reports whether a connection's remote address goes through a
// circuit relay.
func isRelayed(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}
