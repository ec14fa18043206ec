package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Protocol names and wire limits shared by every node of a swarm.
const (
	// WeightsProtocol is the direct stream that serves an individual's
	// weights to a peer that asks for them.
	WeightsProtocol protocol.ID = "/evoswarm/weights/1"
	// DHTProtocolPrefix keeps the swarm's kad-dht apart from the IPFS one.
	DHTProtocolPrefix protocol.ID = "/evoswarm"

	// DefaultMaxMessageSize is the pubsub transport limit (one RPC). Every
	// node of a swarm must use the same value: a node with a smaller one
	// refuses what the others send, and pubsub drops oversized messages
	// without an error.
	DefaultMaxMessageSize = 256 << 10
	// DefaultMaxAnnouncementSize bounds one encoded announcement. A genome
	// within dna.DefaultBounds encodes in under 7 KB; the rest is headroom.
	DefaultMaxAnnouncementSize = 64 << 10
	// DefaultMaxWeightsBytes bounds one weights blob: 5M float32 parameters
	// (dna.DefaultBounds) plus batch-norm statistics and keys fit well within.
	DefaultMaxWeightsBytes = 64 << 20

	// MaxLineage is the number of ancestors an announcement may carry.
	MaxLineage = 8
	// maxExperimentID bounds the experiment ID on the wire and in the topic.
	maxExperimentID = 64
	// envelopeReserve is what pubsub adds around an announcement (topic,
	// sender, sequence number, signature and public key, protobuf framing).
	envelopeReserve = 4 << 10
)

// TopicName returns the migrants topic of an experiment.
func TopicName(experimentID string) string {
	return "evoswarm/" + experimentID + "/migrants/1"
}

// WeightsSource gives the weights of the individuals this node holds, to
// serve them on WeightsProtocol. Weights must be safe for concurrent use and
// return quickly; it returns an error wrapping ErrWeightsNotFound when the
// node does not hold them.
type WeightsSource interface {
	Weights(id dna.ID) ([]byte, error)
}

// Config configures a Swarm. Start from DefaultConfig (or LoopbackConfig
// for tests on one machine) and set ExperimentID and Identity.
type Config struct {
	// ExperimentID names the experiment; it is part of the topic and of
	// every announcement. Required; at most 64 printable ASCII characters
	// and no '/'.
	ExperimentID string
	// Identity is the node's private key; the peer ID derives from it.
	// Required (the node stores it, so that the peer ID is stable).
	Identity crypto.PrivKey

	// ListenAddrs are multiaddrs to listen on. Nil or empty means the
	// defaults (DefaultListenAddrs): TCP and QUIC on every IPv4 and IPv6
	// interface at random ports, or TCP alone when SwarmKey is set (QUIC
	// does not support private networks). An empty list never means "listen
	// nowhere": a node nobody can dial is of no use to a swarm.
	ListenAddrs []string
	// Bootstrap are peers to connect to at start and to keep reconnecting
	// to, as full multiaddrs ending in /p2p/<peer ID>. They seed the DHT,
	// are candidate relays for AutoRelay, are protected from the connection
	// manager's trimming, and receive BootstrapScoreBonus, so that their
	// peer exchange is accepted.
	Bootstrap []string
	// SwarmKey, when not nil, makes the swarm private: only peers with the
	// same key can connect. See ParseSwarmKey. TCP only.
	SwarmKey pnet.PSK

	// DHT enables kad-dht rendezvous on the experiment ID (server mode,
	// protocol prefix /evoswarm). DefaultConfig sets it; LoopbackConfig
	// does not.
	DHT bool
	// MDNS enables local-network discovery. DefaultConfig sets it;
	// LoopbackConfig does not (and it does not work on plain loopback).
	MDNS bool
	// NAT enables NAT traversal for volunteers: UPnP/NAT-PMP port mapping,
	// the AutoNAT service, hole punching and AutoRelay through the
	// bootstrap peers. DefaultConfig sets it; LoopbackConfig does not.
	NAT bool
	// ForcePrivate declares the host unreachable from outside (behind NAT)
	// instead of letting AutoNAT find out, so that it reserves a slot on
	// its relays at once. For networks where every address is private.
	ForcePrivate bool
	// RelayService runs a circuit relay v2 service and forces public
	// reachability; set it on bootstrap nodes with a public address.
	RelayService bool

	// Bounds are the experiment's genome bounds; an announcement whose
	// genome is outside them is rejected. The default is dna.DefaultBounds.
	Bounds dna.Bounds
	// Input and Classes, when set, are the data set's image shape and
	// class count: an announcement whose genome expects others is
	// rejected (ReasonGenome), before anyone fetches its weights.
	Input   dna.Shape
	Classes int
	// MaxWeightsBytes bounds the weights size an announcement may claim and
	// what FetchWeights reads. The default is DefaultMaxWeightsBytes.
	MaxWeightsBytes int64
	// MaxMessageSize is the pubsub transport limit; it must be the same on
	// every node. The default is DefaultMaxMessageSize.
	MaxMessageSize int
	// MaxAnnouncementSize bounds one encoded announcement: Publish refuses
	// a larger one with ErrTooLarge, and the validator rejects it. It must
	// leave 4 KiB of MaxMessageSize for pubsub's envelope. The default is
	// DefaultMaxAnnouncementSize.
	MaxAnnouncementSize int
	// MaxAge is how old an announcement's send time may be; older ones are
	// rejected as stale. The default is 15 minutes.
	MaxAge time.Duration
	// MaxClockSkew is how far in the future a send time may be. The
	// default is 5 minutes.
	MaxClockSkew time.Duration
	// ReplayCacheSize bounds the replay cache (entries). It remembers every
	// accepted announcement for MaxAge+MaxClockSkew unless a flood of more
	// than this many fills it first. The default is 65536 (about 4 MB).
	ReplayCacheSize int
	// ReceiveBuffer is the capacity of the Migrants channel; when it is
	// full, further migrants are dropped and counted. The default is 64.
	ReceiveBuffer int

	// Weights serves weights on WeightsProtocol; nil serves nothing (every
	// request is answered "not found").
	Weights WeightsSource
	// FetchAttempts is how many times FetchWeights tries before giving up.
	// The default is 3.
	FetchAttempts int
	// FetchBackoff is the wait before the second attempt; it doubles for
	// each further one. The default is 500 ms.
	FetchBackoff time.Duration
	// FetchTimeout bounds one attempt, from opening the stream to the last
	// byte, and the serving of one request. The default is 2 minutes.
	FetchTimeout time.Duration

	// ServeRate and ServeBurst limit the weights requests this node serves
	// to one peer: a token bucket of ServeBurst requests refilled at
	// ServeRate per second. ServePerPeer bounds the requests of one peer
	// served at once. A request over a limit is answered "unavailable"
	// and costs the peer OverLimitPenalty. The defaults are 1 per second,
	// 16 and 4: a node fetches a peer's weights once per admitted
	// migrant, at most three at a time.
	ServeRate    float64
	ServeBurst   int
	ServePerPeer int
	// RequestTimeout is how long a peer that opened a weights stream has
	// to send its request. The default is 10 seconds.
	RequestTimeout time.Duration
	// StallTimeout is how long one write of a weights response may wait
	// for the peer to read; a peer that stops reading for longer has its
	// stream reset and loses StallPenalty. The default is 30 seconds.
	StallTimeout time.Duration
	// AnnounceRate and AnnounceBurst limit the announcements validated per
	// signer: a token bucket of AnnounceBurst refilled at AnnounceRate per
	// second. An announcement over the limit is ignored (not forwarded,
	// not delivered) before its genome is decoded, and its signer loses
	// OverLimitPenalty. The defaults are 1 per second and 32.
	AnnounceRate  float64
	AnnounceBurst int

	// PeerStore, if not nil, keeps the bans and the replay cache across
	// restarts: New loads them before the host starts, and what changes
	// is saved every PersistInterval and at Close. Nil keeps them in
	// memory only.
	PeerStore PeerStore
	// PersistInterval is how often changes are saved to PeerStore; a new
	// ban is saved at once. The default is 5 seconds.
	PersistInterval time.Duration

	// PenaltyHalfLife is how fast a Penalize penalty fades. The default is
	// one hour.
	PenaltyHalfLife time.Duration
	// MaxPenalty bans a peer whose accumulated penalty exceeds it. The
	// default is 5000 (twice the graylist threshold's magnitude).
	MaxPenalty float64
	// BanStrikes bans a peer whose score has fallen below GraylistThreshold
	// this many separate times. The default is 3.
	BanStrikes int
	// BanDuration is how long a banned peer is disconnected and refused.
	// The default is one hour.
	BanDuration time.Duration
	// ScoreInspectInterval is how often scores are sampled for Score and
	// the ban rules. The default is one second.
	ScoreInspectInterval time.Duration

	// ConnLow and ConnHigh are the connection manager's watermarks. The
	// defaults are 64 and 192.
	ConnLow, ConnHigh int

	// OnReject, if not nil, is called for every rejected message with the
	// reason (one of the Reason constants) and the peer that delivered it.
	// It runs on a validation goroutine and must not block.
	OnReject func(reason string, from peer.ID)
	// Logger receives the swarm's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration for a node on the internet:
// default listen addresses, DHT, mDNS and NAT traversal on. ExperimentID
// and Identity must still be set.
func DefaultConfig() Config {
	return Config{
		DHT:                  true,
		MDNS:                 true,
		NAT:                  true,
		Bounds:               dna.DefaultBounds(),
		MaxWeightsBytes:      DefaultMaxWeightsBytes,
		MaxMessageSize:       DefaultMaxMessageSize,
		MaxAnnouncementSize:  DefaultMaxAnnouncementSize,
		MaxAge:               15 * time.Minute,
		MaxClockSkew:         5 * time.Minute,
		ReplayCacheSize:      1 << 16,
		ReceiveBuffer:        64,
		FetchAttempts:        3,
		FetchBackoff:         500 * time.Millisecond,
		FetchTimeout:         2 * time.Minute,
		ServeRate:            1,
		ServeBurst:           16,
		ServePerPeer:         4,
		RequestTimeout:       10 * time.Second,
		StallTimeout:         30 * time.Second,
		AnnounceRate:         1,
		AnnounceBurst:        32,
		PersistInterval:      5 * time.Second,
		PenaltyHalfLife:      time.Hour,
		MaxPenalty:           -2 * GraylistThreshold,
		BanStrikes:           3,
		BanDuration:          time.Hour,
		ScoreInspectInterval: time.Second,
		ConnLow:              64,
		ConnHigh:             192,
	}
}

// LoopbackConfig returns a configuration for nodes on one machine: TCP on
// 127.0.0.1 only, no DHT, no mDNS, no NAT traversal (nothing leaves the
// loopback interface).
func LoopbackConfig() Config {
	c := DefaultConfig()
	c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	c.DHT, c.MDNS, c.NAT = false, false, false
	return c
}

// Validate checks the configuration; its errors name the field.
func (c *Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("gossip: config: "+field+" "+format, args...)
	}
	if err := validExperimentID(c.ExperimentID); err != nil {
		return bad("ExperimentID", "%w", err)
	}
	if c.Identity == nil {
		return bad("Identity", "is nil: load or create the node's key")
	}
	if c.SwarmKey != nil && len(c.SwarmKey) != 32 {
		return bad("SwarmKey", "has %d bytes, want 32: read it with ParseSwarmKey", len(c.SwarmKey))
	}
	for _, s := range c.ListenAddrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return bad("ListenAddrs", "%q: %w", s, err)
		}
		if c.SwarmKey != nil && !isTCP(a) {
			return bad("ListenAddrs", "%q is not TCP: a private swarm (SwarmKey) runs over TCP only", s)
		}
	}
	for _, s := range c.Bootstrap {
		if _, err := peer.AddrInfoFromString(s); err != nil {
			return bad("Bootstrap", "%q: %w (want a multiaddr ending in /p2p/<peer ID>)", s, err)
		}
	}
	if err := c.Bounds.Validate(); err != nil {
		return bad("Bounds", "%w", err)
	}
	switch {
	case c.MaxWeightsBytes < 32:
		return bad("MaxWeightsBytes", "%d is below 32 (a digest alone)", c.MaxWeightsBytes)
	case c.MaxMessageSize < 16<<10:
		return bad("MaxMessageSize", "%d is below 16 KiB", c.MaxMessageSize)
	case c.MaxAnnouncementSize < 256 || c.MaxAnnouncementSize > c.MaxMessageSize-envelopeReserve:
		return bad("MaxAnnouncementSize", "%d is outside [256, MaxMessageSize-4096 = %d]", c.MaxAnnouncementSize, c.MaxMessageSize-envelopeReserve)
	case c.MaxAge < time.Second:
		return bad("MaxAge", "%v is below one second", c.MaxAge)
	case c.MaxClockSkew < 0:
		return bad("MaxClockSkew", "%v is negative", c.MaxClockSkew)
	case c.ReplayCacheSize < 16:
		return bad("ReplayCacheSize", "%d is below 16", c.ReplayCacheSize)
	case c.ReceiveBuffer < 1:
		return bad("ReceiveBuffer", "%d is below 1", c.ReceiveBuffer)
	case c.FetchAttempts < 1:
		return bad("FetchAttempts", "%d is below 1", c.FetchAttempts)
	case c.FetchBackoff < 0:
		return bad("FetchBackoff", "%v is negative", c.FetchBackoff)
	case c.FetchTimeout <= 0:
		return bad("FetchTimeout", "%v must be positive", c.FetchTimeout)
	case !(c.ServeRate > 0) || math.IsInf(c.ServeRate, 0) || c.ServeBurst < 1 || c.ServePerPeer < 1:
		return bad("ServeRate/ServeBurst/ServePerPeer", "%v/%d/%d: want a finite rate above 0 and at least 1 each", c.ServeRate, c.ServeBurst, c.ServePerPeer)
	case c.RequestTimeout <= 0 || c.StallTimeout <= 0:
		return bad("RequestTimeout/StallTimeout", "%v/%v must be positive", c.RequestTimeout, c.StallTimeout)
	case !(c.AnnounceRate > 0) || math.IsInf(c.AnnounceRate, 0) || c.AnnounceBurst < 1:
		return bad("AnnounceRate/AnnounceBurst", "%v/%d: want a finite rate above 0 and a burst of at least 1", c.AnnounceRate, c.AnnounceBurst)
	case c.PersistInterval < 10*time.Millisecond:
		return bad("PersistInterval", "%v is below 10ms", c.PersistInterval)
	case c.PenaltyHalfLife <= 0:
		return bad("PenaltyHalfLife", "%v must be positive", c.PenaltyHalfLife)
	case !(c.MaxPenalty > 0) || math.IsInf(c.MaxPenalty, 0):
		return bad("MaxPenalty", "%v must be finite and positive", c.MaxPenalty)
	case c.BanStrikes < 1:
		return bad("BanStrikes", "%d is below 1", c.BanStrikes)
	case c.BanDuration <= 0:
		return bad("BanDuration", "%v must be positive", c.BanDuration)
	case c.ScoreInspectInterval < 100*time.Millisecond:
		return bad("ScoreInspectInterval", "%v is below 100ms", c.ScoreInspectInterval)
	case c.ConnLow < 1 || c.ConnHigh < c.ConnLow:
		return bad("ConnLow/ConnHigh", "%d/%d: want 1 <= ConnLow <= ConnHigh", c.ConnLow, c.ConnHigh)
	}
	return nil
}

var errExperimentID = errors.New("invalid experiment ID")

func validExperimentID(id string) error {
	if id == "" {
		return fmt.Errorf("is empty: set it to the experiment's ID (%w)", errExperimentID)
	}
	if len(id) > maxExperimentID {
		return fmt.Errorf("%q has %d bytes, the limit is %d (%w)", id, len(id), maxExperimentID, errExperimentID)
	}
	if strings.ContainsRune(id, '/') {
		return fmt.Errorf("%q contains '/' (%w)", id, errExperimentID)
	}
	for _, r := range id {
		if r <= ' ' || r > '~' {
			return fmt.Errorf("%q contains a character outside printable ASCII (%w)", id, errExperimentID)
		}
	}
	return nil
}

func isTCP(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_TCP)
	return err == nil
}

// DefaultListenAddrs returns the addresses a node listens on when its
// configuration names none: TCP and QUIC on every IPv4 and IPv6 interface at
// random ports, or TCP alone for a private swarm. A host without IPv6 still
// starts: libp2p fails only when it can listen on none of them.
func DefaultListenAddrs(private bool) []string {
	if private {
		return []string{"/ip4/0.0.0.0/tcp/0", "/ip6/::/tcp/0"}
	}
	return []string{"/ip4/0.0.0.0/tcp/0", "/ip6/::/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1", "/ip6/::/udp/0/quic-v1"}
}

// listenAddrs returns the configured addresses, or the defaults when there
// are none (nil or empty: config.json's "listen": [] means the defaults).
func (c *Config) listenAddrs() []string {
	if len(c.ListenAddrs) > 0 {
		return c.ListenAddrs
	}
	return DefaultListenAddrs(c.SwarmKey != nil)
}
