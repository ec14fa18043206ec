package gossip

import (
	"errors"
	"fmt"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/evoswarm/evoswarm/internal/version"
)

// ErrBanned is wrapped by Connect's error for a banned peer.
var ErrBanned = errors.New("peer is banned")

// newHost builds the libp2p host: the configured identity and listen
// addresses, TCP (and QUIC unless the swarm is private), the connection
// manager, the resource manager with libp2p's default limits scaled to the
// machine, the ban list as connection gater, and NAT traversal.
func newHost(cfg *Config, boot []peer.AddrInfo, gater *banList) (host.Host, error) {
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("gossip: connection manager: %w", err)
	}
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		cm.Close()
		return nil, fmt.Errorf("gossip: resource manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Identity),
		libp2p.ListenAddrStrings(cfg.listenAddrs()...),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionGater(gater),
		libp2p.UserAgent("evoswarm/" + version.Version),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.EnableRelay(), // the relay client: reach and be reached through relays
	}
	if cfg.SwarmKey != nil {
		// QUIC refuses private networks: TCP only.
		opts = append(opts, libp2p.PrivateNetwork(cfg.SwarmKey))
	} else {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	if cfg.NAT {
		opts = append(opts,
			libp2p.NATPortMap(),         // ask the router (UPnP, NAT-PMP) to forward a port
			libp2p.EnableNATService(),   // answer other peers' AutoNAT dial-back probes
			libp2p.EnableHolePunching(), // DCUtR: upgrade relayed connections to direct ones
		)
		if len(boot) > 0 {
			opts = append(opts, libp2p.EnableAutoRelayWithStaticRelays(boot))
		}
	}
	if cfg.ForcePrivate {
		// Behind NAT for sure: reserve a slot on the relays now rather than
		// wait for AutoNAT, which cannot tell in a network of private
		// addresses (a lab, a campus).
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	}
	if cfg.RelayService {
		// Unlimited circuits: GossipSub does not use relayed connections
		// that carry limits (2 minutes, 128 KiB by default), so peers that
		// can only meet through the relay would exchange no migrants.
		opts = append(opts, libp2p.EnableRelayService(relayv2.WithInfiniteLimits()), libp2p.ForceReachabilityPublic())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		// libp2p logs noisy fx errors; the cause is in err.
		rm.Close()
		cm.Close()
		return nil, fmt.Errorf("gossip: starting the libp2p host (listen addresses %v): %w", cfg.listenAddrs(), err)
	}
	if cfg.NAT && !cfg.RelayService {
		startPunchRetry(h, cfg.Logger) // nat.go: DCUtR again for peers left on a relay
	}
	return h, nil
}
