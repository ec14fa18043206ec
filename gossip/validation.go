package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Rejection reasons, as counted by Rejections and passed to OnReject.
const (
	ReasonOversized   = "oversized"        // more than MaxAnnouncementSize bytes
	ReasonMalformed   = "malformed"        // not a well-formed announcement
	ReasonVersion     = "version"          // another wire version
	ReasonExperiment  = "wrong-experiment" // for another experiment
	ReasonFitness     = "fitness"          // NaN or outside [0, 1]
	ReasonWeightsSize = "weights-size"     // below 32 or above MaxWeightsBytes
	ReasonStale       = "stale"            // sent more than MaxAge ago
	ReasonFuture      = "future"           // sent more than MaxClockSkew ahead
	ReasonOrigin      = "origin"           // origin and signer disagree with the relayed flag
	ReasonGenome      = "genome"           // the genome does not decode, resolve, evolve or fit the data set
	ReasonBounds      = "out-of-bounds"    // the genome is outside the experiment's Bounds
	ReasonLineage     = "lineage"          // the lineage contradicts the genome
	ReasonReplay      = "replay"           // announced before (see replayKey)
)

// Reasons lists every rejection reason.
func Reasons() []string {
	return []string{ReasonOversized, ReasonMalformed, ReasonVersion, ReasonExperiment, ReasonFitness,
		ReasonWeightsSize, ReasonStale, ReasonFuture, ReasonOrigin, ReasonGenome, ReasonBounds,
		ReasonLineage, ReasonReplay}
}

// errFrozen marks a genome that Genome.CheckEvolvable refuses. The rule
// came after wire version 1 shipped: nodes that predate it accept and
// forward such announcements, so the validator ignores them (a rejection
// would cost those honest forwarders score) and penalises the signer
// instead; Publish refuses them like any invalid announcement.
var errFrozen = errors.New("frozen vertices")

// ErrInvalid is wrapped by Publish's errors for an announcement that peers
// would reject; the message names the reason.
var ErrInvalid = errors.New("invalid announcement")

// validator checks announcements against an experiment. It is the topic
// validator of a Swarm, and Publish runs the same checks before sending.
type validator struct {
	experiment   string
	bounds       dna.Bounds
	input        dna.Shape // zero: not checked
	classes      int       // 0: not checked
	maxSize      int
	maxWeights   int64
	maxAge, skew time.Duration
	replay       *replayCache
	counts       map[string]*atomic.Uint64 // read-only map of counters
	onReject     func(string, peer.ID)
	log          *slog.Logger
	// announceLimit, when set, bounds the announcements validated per
	// signer; limited is told of each one over it.
	announceLimit *rateBook
	limited       func(signer peer.ID)
	// frozen, when set, is told of the signer of each announcement
	// ignored for errFrozen.
	frozen func(signer peer.ID)
	// remembered, when set, is told of each entry added to the replay
	// cache by a peer's announcement (to save it).
	remembered func(key [32]byte, at time.Time)
}

func newValidator(cfg *Config, log *slog.Logger, now time.Time) *validator {
	v := &validator{
		experiment: cfg.ExperimentID,
		bounds:     cfg.Bounds,
		input:      cfg.Input,
		classes:    cfg.Classes,
		maxSize:    cfg.MaxAnnouncementSize,
		maxWeights: cfg.MaxWeightsBytes,
		maxAge:     cfg.MaxAge,
		skew:       cfg.MaxClockSkew,
		replay:     newReplayCache(cfg.MaxAge+cfg.MaxClockSkew, cfg.ReplayCacheSize, now),
		counts:     make(map[string]*atomic.Uint64),
		onReject:   cfg.OnReject,
		log:        log,
	}
	for _, r := range Reasons() {
		v.counts[r] = new(atomic.Uint64)
	}
	return v
}

// validate is the pubsub topic validator. from is the peer that delivered
// the message; the signer (msg.GetFrom) is the peer that published it,
// which pubsub has already verified (StrictSign).
func (v *validator) validate(self peer.ID) func(context.Context, peer.ID, *pubsub.Message) pubsub.ValidationResult {
	return func(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
		if from == self {
			return pubsub.ValidationAccept // our own: Publish has checked it
		}
		// The envelope is decoded and its fields (staleness included)
		// and the replay cache checked before the signer's rate is
		// charged: anyone can forward a signer's old announcements, and
		// those must cost the forwarder (Reject), not use up the
		// signer's rate and get it penalised.
		env, reason, err := v.checkEnvelope(msg.GetData(), msg.GetFrom(), time.Now())
		if reason != "" {
			v.reject(reason, from, msg.GetFrom(), err)
			return pubsub.ValidationReject
		}
		// A signer over its rate is ignored before its genome is resolved
		// against the bounds: not Reject, which would cost the honest
		// peers that forwarded it score; the signer (verified,
		// StrictSign) pays instead.
		if v.announceLimit != nil {
			if why := v.announceLimit.take(msg.GetFrom(), LimitAnnounceRate, LimitAnnounceRate); why != "" {
				if v.limited != nil && why != limitFull {
					v.limited(msg.GetFrom())
				}
				return pubsub.ValidationIgnore
			}
		}
		a, reason, err := v.checkGenomeOf(env, msg.GetFrom(), time.Now())
		if reason != "" && errors.Is(err, errFrozen) {
			v.counts[reason].Add(1)
			v.log.Debug("ignored migrant", "reason", reason, "from", from, "signer", msg.GetFrom(), "err", err)
			if v.frozen != nil {
				v.frozen(msg.GetFrom())
			}
			return pubsub.ValidationIgnore
		}
		if reason != "" {
			v.reject(reason, from, msg.GetFrom(), err)
			return pubsub.ValidationReject
		}
		msg.ValidatorData = a
		return pubsub.ValidationAccept
	}
}

func (v *validator) reject(reason string, from, signer peer.ID, err error) {
	v.counts[reason].Add(1)
	v.log.Debug("rejected migrant", "reason", reason, "from", from, "signer", signer, "err", err)
	if v.onReject != nil {
		v.onReject(reason, from)
	}
}

// rejections returns the counters by reason, zeros included.
func (v *validator) rejections() map[string]uint64 {
	out := make(map[string]uint64, len(v.counts))
	for r, c := range v.counts {
		out[r] = c.Load()
	}
	return out
}

// check decodes and checks a message signed by signer, cheapest checks
// first, and records it in the replay cache when it passes. It returns the
// announcement, or the reason for rejecting it and the error.
func (v *validator) check(data []byte, signer peer.ID, now time.Time) (*Announcement, string, error) {
	env, reason, err := v.checkEnvelope(data, signer, now)
	if reason != "" {
		return nil, reason, err
	}
	return v.checkGenomeOf(env, signer, now)
}

// checkEnvelope is check's cheap half: the size, the envelope, every
// field, the genome's encoding (not its bounds), and whether the replay
// cache already holds the announcement.
func (v *validator) checkEnvelope(data []byte, signer peer.ID, now time.Time) (*envelope, string, error) {
	if len(data) > v.maxSize {
		return nil, ReasonOversized, fmt.Errorf("%d bytes, the limit is %d", len(data), v.maxSize)
	}
	env, err := decodeEnvelope(data)
	if err != nil {
		if errors.Is(err, ErrVersion) {
			return nil, ReasonVersion, err
		}
		return nil, ReasonMalformed, err
	}
	a := &env.a
	if reason, err := v.checkFields(a, signer, now); reason != "" {
		return nil, reason, err
	}
	if err := env.decodeGenome(); err != nil { // the ID is the genome's
		return nil, ReasonGenome, err
	}
	if v.replay.seen(replayKey(a.ID, a.Relayed, signer), now) {
		return nil, ReasonReplay, fmt.Errorf("individual %s was announced before", a.ID.Short())
	}
	return env, "", nil
}

// checkGenomeOf is check's other half: it checks the decoded genome
// against the bounds and the data set, and records the announcement in
// the replay cache.
func (v *validator) checkGenomeOf(env *envelope, signer peer.ID, now time.Time) (*Announcement, string, error) {
	a := &env.a
	if reason, err := v.checkGenome(a); reason != "" {
		return nil, reason, err
	}
	key := replayKey(a.ID, a.Relayed, signer)
	if !v.replay.add(key, now) {
		return nil, ReasonReplay, fmt.Errorf("individual %s was announced before", a.ID.Short())
	}
	if v.remembered != nil {
		v.remembered(key, now)
	}
	return a, "", nil
}

// checkFields checks everything but the genome.
func (v *validator) checkFields(a *Announcement, signer peer.ID, now time.Time) (string, error) {
	switch {
	case a.Experiment != v.experiment:
		return ReasonExperiment, fmt.Errorf("experiment %q, this swarm runs %q", a.Experiment, v.experiment)
	case math.IsNaN(a.Fitness) || a.Fitness < 0 || a.Fitness > 1:
		return ReasonFitness, fmt.Errorf("fitness %v is outside [0, 1]", a.Fitness)
	case a.WeightsSize < 32 || a.WeightsSize > v.maxWeights:
		return ReasonWeightsSize, fmt.Errorf("weights size %d is outside [32, %d]", a.WeightsSize, v.maxWeights)
	case now.Sub(a.SentAt) > v.maxAge:
		return ReasonStale, fmt.Errorf("sent at %v, more than %v ago", a.SentAt, v.maxAge)
	case a.SentAt.Sub(now) > v.skew:
		return ReasonFuture, fmt.Errorf("sent at %v, more than %v ahead", a.SentAt, v.skew)
	case !a.Relayed && a.Origin != signer:
		return ReasonOrigin, fmt.Errorf("original announcement from origin %s signed by %s", a.Origin, signer)
	case a.Relayed && a.Origin == signer:
		return ReasonOrigin, fmt.Errorf("announcement relayed by its own origin %s", signer)
	}
	return "", nil
}

// checkGenome checks the decoded genome against the bounds and the lineage.
func (v *validator) checkGenome(a *Announcement) (string, error) {
	if err := a.Genome.Validate(v.bounds); err != nil {
		if errors.Is(err, dna.ErrOutOfBounds) {
			return ReasonBounds, err
		}
		return ReasonGenome, err // decodes, but its shapes do not resolve
	}
	if (v.input != dna.Shape{} && a.Genome.Input != v.input) || (v.classes > 0 && a.Genome.Classes != v.classes) {
		return ReasonGenome, fmt.Errorf("genome expects %v images and %d classes; this swarm's data set has %v and %d",
			a.Genome.Input, a.Genome.Classes, v.input, v.classes)
	}
	if err := a.Genome.CheckEvolvable(); err != nil {
		return ReasonGenome, fmt.Errorf("%w: %w", errFrozen, err)
	}
	if len(a.Lineage) > 0 && a.Lineage[0].ID != a.Genome.Parent {
		return ReasonLineage, fmt.Errorf("lineage starts at %s, but the genome's parent is %s", a.Lineage[0].ID.Short(), a.Genome.Parent.Short())
	}
	for i, anc := range a.Lineage {
		if anc.ID.IsZero() {
			return ReasonLineage, fmt.Errorf("lineage entry %d has the zero ID", i)
		}
	}
	return "", nil
}
