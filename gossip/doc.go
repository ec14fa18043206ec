// Package gossip connects a node to the other islands of an experiment: it
// owns the libp2p host, the migrants pubsub topic and its wire format, the
// validation of what peers send, peer scoring and bans, discovery, and the
// direct stream that carries weights.
//
// # Lifecycle
//
// New(ctx, cfg) starts a Swarm: a libp2p host (TCP and QUIC, or TCP alone
// in a private swarm; connection manager; resource manager; the ban list as
// connection gater), GossipSub with peer exchange, content-addressed message
// IDs, strict signing and peer scoring, the topic
// evoswarm/<experiment-id>/migrants/1 with its validator, the weights
// stream handler, and discovery: bootstrap peers (connected at once, then
// kept connected with backoff), kad-dht rendezvous on the experiment ID,
// mDNS. New does not wait for peers. Close stops everything, closes the
// Migrants channel, and can be called more than once.
//
// # How data enters and leaves
//
//   - Out, gossip: Publish(ctx, Announcement) checks the announcement as
//     peers would (and refuses with ErrInvalid or ErrTooLarge, rather than
//     let pubsub drop an oversized message silently), encodes it and
//     publishes it to every topic peer (flood publishing).
//   - In, gossip: every message on the topic goes through the validator
//     (below); what it accepts arrives on Migrants() as Received, with the
//     peer that signed it (From: it vouches for the fitness and serves the
//     weights) and the neighbour that delivered it (Via). The channel is
//     bounded; when the node does not keep up, migrants are dropped and
//     counted (Dropped), never blocking pubsub.
//   - Weights never travel in gossip. A node serves the weights it holds
//     on /evoswarm/weights/1 through Config.Weights; FetchWeights asks the
//     signer for them, reads at most the announced size (and at most
//     MaxWeightsBytes), checks the length and the digest, and retries
//     network failures a bounded number of times.
//   - Feedback: Penalize lowers a peer's score (for instance when its
//     claimed fitness is far from what this node re-measures); Score,
//     Rejections and OnReject expose what the swarm sees, for metrics.
//
// # Wire format
//
// An announcement is a hand-written, versioned, little-endian binary
// encoding (see wire.go), the same style as the genome (island/dna) and the
// weights (train) encodings, rather than protobuf. The reasons: it is
// canonical (one announcement has exactly one encoding, which matters
// because message IDs are the SHA-256 of the bytes, so re-encoded copies
// cannot slip past pubsub's duplicate suppression), strict (no unknown
// fields, no trailing bytes, every length bounded before anything is
// allocated, fuzzed), it embeds the genome's own binary encoding without
// re-describing it, and it needs no code generator in the build. The topic
// name carries the protocol version (/1) and every message carries a
// version byte; a new version means a new topic.
//
// # Validation
//
// The topic validator rejects (pubsub's Reject, which counts against the
// delivering peer's score) a message that is: larger than
// MaxAnnouncementSize; malformed; of another wire version; for another
// experiment; carrying a fitness that is NaN or outside [0, 1] or a weights
// size outside [32, MaxWeightsBytes]; sent more than MaxAge ago or more
// than MaxClockSkew ahead; inconsistent in origin; carrying a genome that
// does not decode or is outside Config.Bounds, or a lineage that
// contradicts it; or a replay. Our own messages are accepted. Every
// rejection is counted by reason (Rejections, OnReject).
//
// Origin and relays: an original announcement (Relayed false) must be
// signed by its Origin. A node may re-announce an individual it received
// from elsewhere (an immigrant that did well) as a relay: Relayed true, the
// Origin kept, signed by the relayer, which must not be the origin.
//
// Replays: an individual may be announced as original once in the whole
// swarm (its genome ID), and relayed once per relaying peer. A replay cache
// remembers accepted announcements for MaxAge+MaxClockSkew (beyond that the
// send time check rejects them anyway), in time buckets bounded by
// ReplayCacheSize entries. It catches what pubsub's two-minute seen cache
// cannot: a captured message re-injected later, the same individual
// re-sent with new bytes, or claimed by another peer. A node that joins
// late has not seen earlier announcements and may accept (and forward) a
// replay of one; the others then reject it from that node: a small,
// fading cost to an honest forwarder.
//
// # Scoring and bans
//
// GossipSub peer scoring with thresholds GossipThreshold (-500),
// PublishThreshold (-1000) and GraylistThreshold (-2500): invalid messages
// weigh -100 times their count squared (six get a peer graylisted: all it
// sends is ignored), time in the mesh and first deliveries earn a little,
// mesh delivery-rate and IP-colocation penalties are off (migrants are
// sparse; lab and loopback peers share an address), and the application
// score is BootstrapScoreBonus for configured bootstrap peers (so that
// their peer exchange is accepted) minus Penalize's penalties, which halve
// every PenaltyHalfLife. Scoring silences a peer but does not disconnect
// it; the swarm bans (disconnects, refuses through the connection gater,
// and blacklists in pubsub for BanDuration) a peer whose score falls below
// GraylistThreshold BanStrikes separate times or below BanThreshold, or
// whose penalties exceed MaxPenalty.
//
// # Volunteers behind NAT
//
// A volunteer at home normally opens nothing. It dials out to the bootstrap
// nodes and to the peers it finds, and outbound connections carry gossip
// and weights in both directions. To be reachable by others as well, the
// node asks the router to forward its port (UPnP / NAT-PMP), learns whether
// it is reachable from peers' dial-backs (AutoNAT; nodes also answer
// others' probes), and if not, reserves a slot on a bootstrap node that
// runs the relay service (RelayService, with public reachability forced)
// and advertises that relayed address. When a peer reaches it through the
// relay, hole punching (DCUtR) upgrades the connection to a direct one; this
// works with the common port-preserving NATs, not with symmetric ones.
// Gossip and weights never flow over the relay: GossipSub does not use
// relayed connections, whose default limits (2 minutes, 128 KiB) only
// carry the hole punch. A volunteer whose NAT defeats all this still takes
// part over its outbound connections; forwarding one TCP port (and the same
// UDP port for QUIC) to a fixed listen address, such as
// /ip4/0.0.0.0/tcp/4001 and /ip4/0.0.0.0/udp/4001/quic-v1, makes it fully
// reachable. Bootstrap nodes need a public address with that port open. A
// private swarm (SwarmKey) runs over TCP only, as QUIC does not support
// private networks.
package gossip
