package gossip

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrTooLarge is wrapped by Publish's error for an announcement that
// encodes to more than MaxAnnouncementSize bytes. pubsub itself would drop
// an oversized message without an error; Publish refuses it first.
var ErrTooLarge = errors.New("announcement too large")

// Publish announces an individual on the topic. It fills in Experiment,
// Origin (this node) and SentAt when they are empty, computes ID, and runs
// the checks peers run, so that an announcement they would reject (and
// score us down for) fails here with ErrInvalid or ErrTooLarge instead. An
// individual is announced once: a second Publish of the same one (or relay
// of the same one by this node) fails as a replay. Publish does not wait
// for peers; with none subscribed, the announcement reaches no one.
func (s *Swarm) Publish(ctx context.Context, a Announcement) error {
	if s.isClosed() {
		return ErrClosed
	}
	if a.Genome == nil {
		return fmt.Errorf("gossip: publish: %w: no genome", ErrInvalid)
	}
	self := s.host.ID()
	if a.Experiment == "" {
		a.Experiment = s.cfg.ExperimentID
	}
	if a.Origin == "" {
		a.Origin = self
	}
	now := time.Now()
	if a.SentAt.IsZero() {
		a.SentAt = now
	}
	a.ID = a.Genome.ID()
	invalid := func(reason string, err error) error {
		return fmt.Errorf("gossip: publish %s: %w (%s): %w", a.ID.Short(), ErrInvalid, reason, err)
	}
	if reason, err := s.val.checkFields(&a, self, now); reason != "" {
		return invalid(reason, err)
	}
	if reason, err := s.val.checkGenome(&a); reason != "" {
		return invalid(reason, err)
	}
	data, err := a.MarshalBinary()
	if err != nil {
		return invalid(ReasonMalformed, err)
	}
	if len(data) > s.cfg.MaxAnnouncementSize {
		return fmt.Errorf("gossip: publish %s: %w: %d bytes, the limit is %d", a.ID.Short(), ErrTooLarge, len(data), s.cfg.MaxAnnouncementSize)
	}
	key := replayKey(a.ID, a.Relayed, self)
	if !s.val.replay.add(key, now) {
		return invalid(ReasonReplay, errors.New("this node has announced it already"))
	}
	if err := s.topic.Publish(ctx, data); err != nil {
		s.val.replay.forget(key)
		return fmt.Errorf("gossip: publish %s: %w", a.ID.Short(), err)
	}
	s.stats.onPublish()
	s.log.Debug("published migrant", "id", a.ID.Short(), "fitness", a.Fitness, "relayed", a.Relayed, "bytes", len(data))
	return nil
}

// Migrants returns the validated announcements from peers, in arrival
// order. The channel is closed by Close. Read it promptly: when its buffer
// (ReceiveBuffer) is full, further migrants are dropped and counted
// (Dropped), so that pubsub is never held up.
func (s *Swarm) Migrants() <-chan Received { return s.migrants }

// readLoop moves validated messages from the subscription to Migrants.
func (s *Swarm) readLoop() {
	defer close(s.migrants)
	self := s.host.ID()
	for {
		msg, err := s.sub.Next(s.ctx)
		if err != nil {
			return // closed
		}
		if msg.ReceivedFrom == self {
			continue // our own, delivered locally
		}
		a, ok := msg.ValidatorData.(*Announcement)
		if !ok {
			s.log.Error("a message reached the subscription without validation", "from", msg.ReceivedFrom)
			continue
		}
		r := Received{Announcement: *a, From: msg.GetFrom(), Via: msg.ReceivedFrom, At: time.Now()}
		s.stats.onAccept(r.At.Sub(r.SentAt))
		select {
		case s.migrants <- r:
		default:
			s.dropped.Add(1)
			s.log.Warn("migrants buffer full; dropped a migrant", "id", a.ID.Short(), "from", r.From)
		}
	}
}
