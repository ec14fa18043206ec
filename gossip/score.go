package gossip

import (
	"fmt"
	"math"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Peer score thresholds, the same on every node. A peer's score is the sum
// of its topic score (time in mesh, first deliveries, invalid messages),
// its behaviour penalty and the application score (BootstrapScoreBonus
// minus the penalties given with Penalize).
const (
	// GossipThreshold: below it, no gossip is exchanged with the peer.
	GossipThreshold = -500
	// PublishThreshold: below it, our own messages are not sent to the peer.
	PublishThreshold = -1000
	// GraylistThreshold: below it, everything the peer sends is ignored.
	// Six invalid messages within a short time get a peer there.
	GraylistThreshold = -2500
	// BanThreshold: below it the peer is banned at once (eleven invalid
	// messages within a short time with nothing else against the peer,
	// since ten reach it exactly; or heavy penalties).
	BanThreshold = 4 * GraylistThreshold
	// AcceptPXThreshold: peer exchange (on PRUNE) is accepted only from
	// peers at or above it: bootstrap peers, thanks to their bonus, and
	// peers that have delivered well for a while.
	AcceptPXThreshold = 10
	// OpportunisticGraftThreshold: below this median mesh score, gossipsub
	// grafts better-scoring peers.
	OpportunisticGraftThreshold = 2
	// BootstrapScoreBonus is the application score of configured bootstrap
	// peers.
	BootstrapScoreBonus = 20
	// InvalidMessageWeight is the weight of the invalid-message counter,
	// which counts squared: 1 invalid message is -100, 3 are -900, 6 are
	// -3600. The counter fades to 1% in an hour.
	InvalidMessageWeight = -100
)

// scoreParams returns the swarm's peer-score parameters for topic. They
// follow gossipsub's recommendations, except that:
//   - mesh delivery-rate penalties (P3, P3b) are off: migrants are sparse
//     (a few a minute per node), so a quiet honest peer would look like one
//     that withholds messages;
//   - the IP colocation penalty (P6) is off: peers on one machine (tests,
//     a lab) or behind one NAT share an address;
//   - invalid messages (P4) weigh heavily (InvalidMessageWeight).
func scoreParams(topic string, app func(peer.ID) float64) (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	params := &pubsub.PeerScoreParams{
		Topics: map[string]*pubsub.TopicScoreParams{topic: {
			TopicWeight: 1,
			// P1: up to +10 after an hour in the mesh.
			TimeInMeshWeight:  10.0 / 3600,
			TimeInMeshQuantum: time.Second,
			TimeInMeshCap:     3600,
			// P2: +1 per first delivery of a valid message, up to +20,
			// fading over two hours.
			FirstMessageDeliveriesWeight: 1,
			FirstMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(2 * time.Hour),
			FirstMessageDeliveriesCap:    20,
			// P3, P3b: off (zero weights; see above).
			// P4: heavy.
			InvalidMessageDeliveriesWeight: InvalidMessageWeight,
			InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
		}},
		TopicScoreCap:     30,
		AppSpecificScore:  app,
		AppSpecificWeight: 1,
		// P6: off (see above).
		IPColocationFactorWeight: 0,
		// P7: broken promises and premature re-grafts.
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:             pubsub.DefaultDecayInterval,
		DecayToZero:               pubsub.DefaultDecayToZero,
		// A peer that leaves and comes back keeps its score for an hour.
		RetainScore: time.Hour,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:             GossipThreshold,
		PublishThreshold:            PublishThreshold,
		GraylistThreshold:           GraylistThreshold,
		AcceptPXThreshold:           AcceptPXThreshold,
		OpportunisticGraftThreshold: OpportunisticGraftThreshold,
	}
	return params, thresholds
}

// scoreBook holds the application's side of peer scores: bonuses,
// penalties, the last sampled scores and graylist strikes. Its methods are
// called from pubsub's scoring (app), from the score inspector (observe)
// and from the node (penalize); it never calls into pubsub.
type scoreBook struct {
	mu       sync.Mutex
	halfLife time.Duration
	now      func() time.Time
	bonus    map[peer.ID]float64
	penalty  map[peer.ID]fading
	last     map[peer.ID]float64
	below    map[peer.ID]bool // below GraylistThreshold at the last sample
	sunk     map[peer.ID]bool // below BanThreshold at the last sample
	strikes  map[peer.ID]int  // times it fell below GraylistThreshold
}

// fading is a penalty that halves every halfLife.
type fading struct {
	v  float64
	at time.Time
}

func (f fading) value(now time.Time, halfLife time.Duration) float64 {
	dt := now.Sub(f.at)
	if dt <= 0 {
		return f.v
	}
	return f.v * math.Exp2(-dt.Seconds()/halfLife.Seconds())
}

func newScoreBook(halfLife time.Duration) *scoreBook {
	return &scoreBook{
		halfLife: halfLife,
		now:      time.Now,
		bonus:    make(map[peer.ID]float64),
		penalty:  make(map[peer.ID]fading),
		last:     make(map[peer.ID]float64),
		below:    make(map[peer.ID]bool),
		sunk:     make(map[peer.ID]bool),
		strikes:  make(map[peer.ID]int),
	}
}

// app is gossipsub's AppSpecificScore.
func (b *scoreBook) app(p peer.ID) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.bonus[p]
	if f, ok := b.penalty[p]; ok {
		s -= f.value(b.now(), b.halfLife)
	}
	return s
}

// penalize adds amount to p's penalty and returns the total.
func (b *scoreBook) penalize(p peer.ID, amount float64) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	total := b.penalty[p].value(now, b.halfLife) + amount
	if _, ok := b.penalty[p]; !ok && len(b.penalty) >= maxPenalized {
		// A bound: many throwaway identities each penalised once. The
		// faded go first, then the smallest penalty.
		var least peer.ID
		leastV := math.Inf(1)
		for q, f := range b.penalty {
			v := f.value(now, b.halfLife)
			if v < 0.01 {
				delete(b.penalty, q)
			} else if v < leastV {
				least, leastV = q, v
			}
		}
		if len(b.penalty) >= maxPenalized {
			delete(b.penalty, least)
		}
	}
	b.penalty[p] = fading{v: total, at: now}
	return total
}

// maxPenalized bounds the peers whose penalties a node remembers.
const maxPenalized = 1 << 14

// observe records a sample of scores and returns the peers to ban: those
// below BanThreshold, and those that have now fallen below
// GraylistThreshold strikes times.
func (b *scoreBook) observe(scores map[peer.ID]float64, strikes int) (ban []peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	clear(b.last)
	for p, s := range scores {
		b.last[p] = s
		below := s < GraylistThreshold
		fell := below && !b.below[p]
		if fell {
			b.strikes[p]++
		}
		// A ban comes when the score crosses a line, not at every sample
		// below it: pubsub keeps a gone peer's score (RetainScore), and
		// banning again at each sample would stretch a ban of BanDuration
		// to that and the retention.
		sunk := s < BanThreshold
		if sunk && !b.sunk[p] || fell && b.strikes[p] >= strikes {
			ban = append(ban, p)
		}
		b.below[p], b.sunk[p] = below, sunk
	}
	// Forget peers pubsub no longer scores (gone for longer than
	// RetainScore) and penalties that have faded.
	for p := range b.below {
		if _, ok := scores[p]; !ok {
			delete(b.below, p)
			delete(b.sunk, p)
			delete(b.strikes, p)
		}
	}
	for p, f := range b.penalty {
		if f.value(now, b.halfLife) < 0.01 {
			delete(b.penalty, p)
		}
	}
	return ban
}

func (b *scoreBook) score(p peer.ID) (float64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.last[p]
	return s, ok
}

// Score returns p's peer score as last sampled (every
// ScoreInspectInterval); for a peer pubsub does not score (one that never
// joined the topic, such as a peer that only asks for weights), its
// application score: bonus less penalties. Compare it with
// GossipThreshold, PublishThreshold and GraylistThreshold.
func (s *Swarm) Score(p peer.ID) float64 {
	if v, ok := s.book.score(p); ok {
		return v
	}
	return s.book.app(p)
}

// Penalize lowers p's score by amount (positive) for reason, for instance
// when a migrant's claimed fitness is far from what this node re-measures.
// Penalties add up and halve every PenaltyHalfLife; a peer whose penalty
// exceeds MaxPenalty is banned: disconnected and refused for BanDuration.
func (s *Swarm) Penalize(p peer.ID, amount float64, reason string) {
	if !(amount > 0) || math.IsInf(amount, 0) || p == s.host.ID() {
		return
	}
	total := s.book.penalize(p, amount)
	s.log.Info("penalized peer", "peer", p, "amount", amount, "total", total, "reason", reason)
	if total > s.cfg.MaxPenalty {
		s.ban(p, fmt.Sprintf("penalized %.0f (> MaxPenalty %.0f): %s", total, s.cfg.MaxPenalty, reason))
	}
}

// onScores is pubsub's score inspector: it records the sample and bans
// repeat offenders. pubsub runs it in a goroutine of its own.
func (s *Swarm) onScores(scores map[peer.ID]float64) {
	for _, p := range s.book.observe(scores, s.cfg.BanStrikes) {
		if p == s.host.ID() {
			continue
		}
		s.ban(p, fmt.Sprintf("score %.0f below the graylist threshold %d times, or below %d", scores[p], s.cfg.BanStrikes, BanThreshold))
	}
}

// ban disconnects p and refuses it for BanDuration: the connection gater
// refuses its connections, pubsub drops its messages.
func (s *Swarm) ban(p peer.ID, why string) {
	if s.bans.ban(p, s.cfg.BanDuration) {
		s.log.Warn("banned peer", "peer", p, "for", s.cfg.BanDuration, "why", why)
		if s.journal != nil {
			s.journal.addBan(BanRecord{Peer: p, Until: s.bans.end(p), Reason: why})
		}
	}
	// Limited (relayed) connections too.
	if s.host.Network().Connectedness(p) != network.NotConnected {
		s.host.Network().ClosePeer(p)
	}
}

// Banned reports whether p is banned now.
func (s *Swarm) Banned(p peer.ID) bool { return s.bans.banned(p) }
