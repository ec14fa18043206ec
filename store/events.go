package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/evoswarm/evoswarm/island/dna"
)

// EventType names what happened.
type EventType string

// Event types.
const (
	EventBirth       EventType = "birth"       // a locally trained individual joined the population
	EventDeath       EventType = "death"       // an individual was killed
	EventImmigration EventType = "immigration" // an individual from another node joined
	EventEmigration  EventType = "emigration"  // a copy of an individual was sent to another node
	EventError       EventType = "error"       // training or evaluation went wrong
	EventAbandon     EventType = "abandon"     // a training was given up (conflict, restart)
)

func (t EventType) valid() bool {
	switch t {
	case EventBirth, EventDeath, EventImmigration, EventEmigration, EventError, EventAbandon:
		return true
	}
	return false
}

// EventTypes are every event type, in the order of their declaration.
var EventTypes = []EventType{EventBirth, EventDeath, EventImmigration, EventEmigration, EventError, EventAbandon}

// ParseEventType reads an event type by its name.
func ParseEventType(s string) (EventType, error) {
	if t := EventType(s); t.valid() {
		return t, nil
	}
	return "", fmt.Errorf("store: unknown event type %q (want one of %v)", s, EventTypes)
}

// Event is one entry of the history. It carries enough to draw the
// population over time and every lineage without reading any weights.
type Event struct {
	Seq      uint64 // from 1, in commit order; set by the store
	Time     time.Time
	Type     EventType
	ID       dna.ID  // the individual concerned (zero for none)
	Parent   dna.ID  // its parent
	Fitness  float64 // its fitness when the event happened
	Mutation string  // the mutation that made it
	Origin   string  // peer ID of the node that trained it
	Detail   string  // death reason, error, destination peer, ...
}

// eventVersion is the version of the JSON encoding of an Event.
const eventVersion = 1

type eventRecord struct {
	V        int       `json:"v"`
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Type     EventType `json:"type"`
	ID       string    `json:"id,omitempty"`
	Parent   string    `json:"parent,omitempty"`
	Fitness  float64   `json:"fitness"`
	Mutation string    `json:"mutation,omitempty"`
	Origin   string    `json:"origin,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

func hexOrEmpty(id dna.ID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}

func encodeEvent(ev *Event) ([]byte, error) {
	if !ev.Type.valid() {
		return nil, fmt.Errorf("%w: event type %q: want one of birth, death, immigration, emigration, error, abandon",
			ErrInvalid, ev.Type)
	}
	if math.IsNaN(ev.Fitness) || math.IsInf(ev.Fitness, 0) {
		return nil, fmt.Errorf("%w: %s event for %s: fitness is %v", ErrInvalid, ev.Type, ev.ID.Short(), ev.Fitness)
	}
	b, err := json.Marshal(&eventRecord{
		V: eventVersion, Seq: ev.Seq, Time: ev.Time.UTC(), Type: ev.Type,
		ID: hexOrEmpty(ev.ID), Parent: hexOrEmpty(ev.Parent), Fitness: ev.Fitness,
		Mutation: ev.Mutation, Origin: ev.Origin, Detail: ev.Detail,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s event: %w", ErrInvalid, ev.Type, err)
	}
	return b, nil
}

func decodeEvent(seq uint64, b []byte) (Event, error) {
	var r eventRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return Event{}, fmt.Errorf("%w: event %d: %w", ErrCorrupt, seq, err)
	}
	if r.V != eventVersion {
		return Event{}, fmt.Errorf("%w: event %d: version %d, this build reads %d", ErrCorrupt, seq, r.V, eventVersion)
	}
	if r.Seq != seq || !r.Type.valid() {
		return Event{}, fmt.Errorf("%w: event %d: holds seq %d, type %q", ErrCorrupt, seq, r.Seq, r.Type)
	}
	ev := Event{Seq: seq, Time: r.Time, Type: r.Type, Fitness: r.Fitness,
		Mutation: r.Mutation, Origin: r.Origin, Detail: r.Detail}
	var err error
	if r.ID != "" {
		if ev.ID, err = dna.ParseID(r.ID); err != nil {
			return Event{}, fmt.Errorf("%w: event %d: %w", ErrCorrupt, seq, err)
		}
	}
	if r.Parent != "" {
		if ev.Parent, err = dna.ParseID(r.Parent); err != nil {
			return Event{}, fmt.Errorf("%w: event %d: parent: %w", ErrCorrupt, seq, err)
		}
	}
	return ev, nil
}

// eventFor builds the event of type t about ind.
func eventFor(t EventType, ind *Individual, at time.Time, detail string) *Event {
	return &Event{Time: at, Type: t, ID: ind.ID, Parent: ind.Parent, Fitness: ind.Fitness,
		Mutation: ind.Mutation, Origin: ind.Origin, Detail: detail}
}

// AppendEvent appends ev to the history, setting ev.Seq (and ev.Time to now
// if it is zero). The lifecycle methods append their own events; use this
// for anything else worth keeping, e.g. an abandoned task.
func (tx *Tx) AppendEvent(ev *Event) error {
	if err := tx.writable("append event"); err != nil {
		return err
	}
	c, err := tx.counters()
	if err != nil {
		return err
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Seq = c.Events + 1
	b, err := encodeEvent(ev)
	if err != nil {
		return err
	}
	if err := tx.set(eventKey(ev.Seq), b, "append event"); err != nil {
		return err
	}
	c.Events = ev.Seq
	tx.countersDirty = true
	return nil
}

// Events calls fn for every event with a sequence number of at least from,
// in order, and stops at the first error from fn, which it returns as is.
// It reads one consistent snapshot: events committed during the scan are
// not seen; call again from the last Seq + 1 to follow the log.
func (s *Store) Events(from uint64, fn func(Event) error) error {
	return s.View(func(tx *Tx) error { return tx.Events(from, fn) })
}

// Events is Store.Events within the transaction's snapshot.
func (tx *Tx) Events(from uint64, fn func(Event) error) error {
	return tx.events(from, false, fn)
}

// EventsBackward calls fn for every event numbered from or later, newest
// first, until fn returns an error (returned as is): reading the last few
// of a long history costs only those.
func (s *Store) EventsBackward(from uint64, fn func(Event) error) error {
	return s.View(func(tx *Tx) error { return tx.events(from, true, fn) })
}

func (tx *Tx) events(from uint64, backward bool, fn func(Event) error) error {
	from = max(from, 1)
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefixEvent
	opts.Reverse = backward
	it := tx.txn.NewIterator(opts)
	defer it.Close()
	start := eventKey(from)
	if backward {
		start = eventKey(math.MaxUint64)
	}
	for it.Seek(start); it.Valid(); it.Next() {
		item := it.Item()
		key := item.Key()
		if len(key) != len(prefixEvent)+8 {
			return fmt.Errorf("%w: event key %q", ErrCorrupt, key)
		}
		seq := binary.BigEndian.Uint64(key[len(prefixEvent):])
		if seq < from { // only going backward
			return nil
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return wrapBadger(fmt.Sprintf("read event %d", seq), err)
		}
		ev, err := decodeEvent(seq, v)
		if err != nil {
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}
