package gossip

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
)

// ErrClosed is returned by the methods of a closed Swarm.
var ErrClosed = errors.New("gossip: swarm closed")

// Swarm is a node's membership of an experiment's swarm: a libp2p host,
// the migrants topic with its validator and peer scoring, discovery, and
// the weights stream. Its methods are safe for concurrent use.
type Swarm struct {
	cfg   Config
	root  *slog.Logger // Config.Logger, for the components' loggers
	log   *slog.Logger
	host  host.Host
	ps    *pubsub.PubSub
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	dht   *kaddht.IpfsDHT
	rd    *drouting.RoutingDiscovery
	mdns  mdns.Service

	val     *validator
	book    *scoreBook
	bans    *banList
	boot    []peer.AddrInfo
	serving chan struct{} // semaphore of weights streams being served

	serveLimit *rateBook // weights requests, per asking peer
	abuse      *abuseCounters
	journal    *journal // nil without Config.PeerStore

	migrants chan Received
	dropped  atomic.Uint64
	stats    swarmStats // Stats: published, accepted, delays

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup
	once   sync.Once
	err    error // Close's
}

// Received is an announcement that passed validation.
type Received struct {
	Announcement
	// From is the peer that signed and published the announcement: the one
	// that vouches for its fitness (Penalize it if the claim is far off)
	// and that serves its weights (FetchWeights from it).
	From peer.ID
	// Via is the neighbour that delivered it (From, or a peer forwarding).
	Via peer.ID
	// At is when it was accepted.
	At time.Time
}

// New starts a swarm member: the libp2p host, pubsub with the migrants
// topic, its validator and scoring, the weights stream and discovery
// (bootstrap peers, and the DHT and mDNS when configured). It does not wait
// for peers: connections are made in the background. ctx bounds the start
// only; the swarm runs until Close.
func New(ctx context.Context, cfg Config) (*Swarm, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	boot, err := parseAddrInfos(cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	s := &Swarm{
		cfg:      cfg,
		root:     log,
		log:      log.With("component", "gossip"),
		book:     newScoreBook(cfg.PenaltyHalfLife),
		bans:     newBanList(cfg.BanDuration),
		boot:     boot,
		serving:  make(chan struct{}, maxServing),
		abuse:    newAbuseCounters(),
		migrants: make(chan Received, cfg.ReceiveBuffer),
	}
	s.serveLimit = newRateBook(cfg.ServeRate, cfg.ServeBurst, cfg.ServePerPeer)
	s.val = newValidator(&s.cfg, log.With("component", "gossip/validate"), time.Now())
	s.val.announceLimit = newRateBook(cfg.AnnounceRate, cfg.AnnounceBurst, 0)
	s.val.limited = func(signer peer.ID) {
		s.abuse.counts[LimitAnnounceRate].Add(1)
		s.Penalize(signer, OverLimitPenalty, "announcements over the rate limit")
	}
	s.val.frozen = func(signer peer.ID) {
		s.Penalize(signer, FrozenGenomePenalty, "announced a genome with frozen vertices")
	}
	for _, ai := range boot {
		s.book.bonus[ai.ID] = BootstrapScoreBonus
	}
	if cfg.PeerStore != nil {
		now := time.Now()
		if err := s.loadPeers(now); err != nil {
			return nil, err
		}
		s.journal = newJournal(cfg.PeerStore, cfg.ReplayCacheSize, cfg.MaxAge+cfg.MaxClockSkew, now)
		s.val.remembered = s.journal.addReplay
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Swarm) start(ctx context.Context) error {
	h, err := newHost(&s.cfg, s.boot, s.bans)
	if err != nil {
		return err
	}
	s.host = h
	for _, ai := range s.boot {
		h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
		h.ConnManager().Protect(ai.ID, "evoswarm-bootstrap")
	}
	topicName := TopicName(s.cfg.ExperimentID)
	params, thresholds := scoreParams(topicName, s.book.app)
	s.ps, err = pubsub.NewGossipSub(s.ctx, h,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithMaxMessageSize(s.cfg.MaxMessageSize),
		pubsub.WithPeerExchange(true),
		// Our own migrants go to every topic peer above PublishThreshold,
		// not only to the mesh (pubsub's default is mesh only, so that a
		// publish before the first heartbeat reaches no one).
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(s.onScores), s.cfg.ScoreInspectInterval),
		pubsub.WithBlacklist(s.bans),
		pubsub.WithLogger(s.root.With("component", "gossip/pubsub")),
	)
	if err != nil {
		return fmt.Errorf("gossip: pubsub: %w", err)
	}
	if err := s.ps.RegisterTopicValidator(topicName, pubsub.ValidatorEx(s.val.validate(h.ID()))); err != nil {
		return fmt.Errorf("gossip: registering the validator: %w", err)
	}
	if s.topic, err = s.ps.Join(topicName); err != nil {
		return fmt.Errorf("gossip: joining %s: %w", topicName, err)
	}
	if s.sub, err = s.topic.Subscribe(pubsub.WithBufferSize(128)); err != nil {
		return fmt.Errorf("gossip: subscribing to %s: %w", topicName, err)
	}
	h.SetStreamHandler(WeightsProtocol, s.serveWeights)
	s.spawn(s.readLoop)
	if s.journal != nil {
		s.spawn(s.persistLoop)
	}
	for _, ai := range s.boot {
		s.spawn(func() { s.keepConnected(ai) })
	}
	if s.cfg.DHT {
		if err := s.startDHT(ctx); err != nil {
			return err
		}
	}
	if s.cfg.MDNS {
		// mDNS is a convenience for LANs: a machine with no multicast
		// interface (a container, a bare loopback) still joins the swarm
		// through its bootstrap peers and the DHT.
		s.mdns = mdns.NewMdnsService(h, mdnsServiceName, newMDNSNotifee(s))
		if err := s.mdns.Start(); err != nil {
			s.log.Warn("mDNS is off: no local-network discovery", "err", err)
			s.mdns = nil
		}
	}
	s.log.Info("swarm started", "peer", h.ID(), "topic", topicName, "addrs", s.Addrs())
	return nil
}

// messageID is content-addressed: the same announcement has the same ID
// whoever sends it, so copies are suppressed by pubsub's seen cache.
func messageID(m *pb.Message) string {
	sum := sha256.Sum256(m.GetData())
	return string(sum[:])
}

// spawn runs f in a goroutine that Close waits for, unless the swarm is
// closed.
func (s *Swarm) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// Close leaves the topic, stops discovery and closes the host, then waits
// for the swarm's goroutines. The Migrants channel is closed. Close is
// idempotent; it returns the first close's error.
func (s *Swarm) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		if s.sub != nil {
			s.sub.Cancel()
		}
		var err error
		if s.mdns != nil {
			err = errors.Join(err, s.mdns.Close())
		}
		if s.dht != nil {
			err = errors.Join(err, s.dht.Close())
		}
		if s.host != nil {
			err = errors.Join(err, s.host.Close())
		}
		s.wg.Wait()
		if s.sub == nil { // readLoop never ran
			close(s.migrants)
		}
		if err != nil {
			s.err = fmt.Errorf("gossip: close: %w", err)
		}
	})
	return s.err
}

func (s *Swarm) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// ID returns the node's peer ID.
func (s *Swarm) ID() peer.ID { return s.host.ID() }

// Addrs returns the node's addresses as full multiaddrs ending in
// /p2p/<peer ID>, ready to give to other nodes as bootstrap addresses. It is
// empty, never a bare /p2p/<peer ID>, when the host has no address.
func (s *Swarm) Addrs() []string {
	hostAddrs := s.host.Addrs()
	if len(hostAddrs) == 0 {
		return []string{}
	}
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: s.host.ID(), Addrs: hostAddrs})
	if err != nil {
		return []string{}
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// Topic returns the migrants topic's name.
func (s *Swarm) Topic() string { return TopicName(s.cfg.ExperimentID) }

// Peers returns the peers the host is connected to, sorted.
func (s *Swarm) Peers() []peer.ID {
	ps := s.host.Network().Peers()
	slices.Sort(ps)
	return ps
}

// TopicPeers returns the connected peers subscribed to the migrants topic.
func (s *Swarm) TopicPeers() []peer.ID { return s.topic.ListPeers() }

// Connect connects to a peer. A banned peer is refused.
func (s *Swarm) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if s.isClosed() {
		return ErrClosed
	}
	if s.bans.banned(ai.ID) {
		return fmt.Errorf("gossip: connect %s: %w", ai.ID, ErrBanned)
	}
	if err := s.host.Connect(ctx, ai); err != nil {
		return fmt.Errorf("gossip: connect %s: %w", ai.ID, err)
	}
	return nil
}

// Host returns the libp2p host, for the node's diagnostics. Do not close it.
func (s *Swarm) Host() host.Host { return s.host }

// Rejections returns how many messages the validator has rejected, by
// reason (every reason of Reasons, zeros included).
func (s *Swarm) Rejections() map[string]uint64 { return s.val.rejections() }

// Dropped returns how many validated migrants were dropped because the
// Migrants channel was full.
func (s *Swarm) Dropped() uint64 { return s.dropped.Load() }

func parseAddrInfos(ss []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, str := range ss {
		ai, err := peer.AddrInfoFromString(str)
		if err != nil {
			return nil, fmt.Errorf("gossip: bootstrap address %q: %w", str, err)
		}
		i := slices.IndexFunc(out, func(x peer.AddrInfo) bool { return x.ID == ai.ID })
		if i < 0 {
			out = append(out, *ai)
		} else {
			out[i].Addrs = append(out[i].Addrs, ai.Addrs...)
		}
	}
	return out, nil
}
