package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evoswarm/evoswarm/store"
)

// EventView is one entry of a node's history as the API (GET
// /api/v1/events) and `evoswarm events` show it.
type EventView struct {
	Seq      uint64          `json:"seq"`
	Time     time.Time       `json:"time"`
	Type     store.EventType `json:"type"`
	ID       string          `json:"id,omitempty"`
	Parent   string          `json:"parent,omitempty"`
	Fitness  float64         `json:"fitness"`
	Mutation string          `json:"mutation,omitempty"`
	Origin   string          `json:"origin,omitempty"`
	Detail   string          `json:"detail,omitempty"`
}

// MaxEvents is the most events one query returns; a caller that wants
// more asks again after the last one it got.
const MaxEvents = 10000

// EventQuery selects events: those of Types (all when empty) with a
// sequence number above After, the first MaxEvents of them, or only the
// Last of those when Last > 0.
type EventQuery struct {
	Types []store.EventType
	After uint64
	Last  int
}

// Values encodes the query for the API.
func (q EventQuery) Values() url.Values {
	v := url.Values{}
	if len(q.Types) > 0 {
		var names []string
		for _, t := range q.Types {
			names = append(names, string(t))
		}
		v.Set("type", strings.Join(names, ","))
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if q.Last > 0 {
		v.Set("last", strconv.Itoa(q.Last))
	}
	return v
}

// ParseEventQuery reads what Values wrote: type (comma-separated names),
// after and last.
func ParseEventQuery(v url.Values) (EventQuery, error) {
	var q EventQuery
	var err error
	if q.Types, err = ParseEventTypes(v.Get("type")); err != nil {
		return q, err
	}
	if s := v.Get("after"); s != "" {
		if q.After, err = strconv.ParseUint(s, 10, 64); err != nil {
			return q, fmt.Errorf("node: after=%q: not a sequence number", s)
		}
	}
	if s := v.Get("last"); s != "" {
		if q.Last, err = strconv.Atoi(s); err != nil || q.Last < 0 {
			return q, fmt.Errorf("node: last=%q: not a count", s)
		}
	}
	return q, nil
}

// ParseEventTypes reads comma-separated event type names ("" is none).
func ParseEventTypes(s string) ([]store.EventType, error) {
	var out []store.EventType
	if s == "" {
		return nil, nil
	}
	for _, name := range strings.Split(s, ",") {
		t, err := store.ParseEventType(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Events reads the events of s that q selects, oldest first.
func Events(s *store.Store, q EventQuery) ([]EventView, error) {
	want := map[store.EventType]bool{}
	for _, t := range q.Types {
		want[t] = true
	}
	limit := MaxEvents
	if q.Last > 0 {
		limit = min(q.Last, MaxEvents)
	}
	out := []EventView{}           // [] in JSON, not null
	if q.After == math.MaxUint64 { // nothing can follow it (and After+1 would wrap to the start)
		return out, nil
	}
	errFull := errors.New("full")
	keep := func(ev store.Event) error {
		if len(want) > 0 && !want[ev.Type] {
			return nil
		}
		out = append(out, viewOf(ev))
		if len(out) == limit {
			return errFull
		}
		return nil
	}
	var err error
	if q.Last > 0 {
		// The newest first, so that the last few of a long history
		// cost only those; then oldest first, as the first N are.
		err = s.EventsBackward(q.After+1, keep)
		slices.Reverse(out)
	} else {
		err = s.Events(q.After+1, keep)
	}
	if err == errFull {
		err = nil
	}
	return out, err
}

func viewOf(ev store.Event) EventView {
	v := EventView{Seq: ev.Seq, Time: ev.Time.UTC(), Type: ev.Type, Fitness: ev.Fitness, Mutation: ev.Mutation, Origin: ev.Origin, Detail: ev.Detail}
	if !ev.ID.IsZero() {
		v.ID = ev.ID.String()
	}
	if !ev.Parent.IsZero() {
		v.Parent = ev.Parent.String()
	}
	return v
}

// Events reads the repo's events that q selects (see Events).
func (r *StoppedRepo) Events(q EventQuery) ([]EventView, error) { return Events(r.st, q) }

// RepoEvents reads the events q selects from the repo in dir: from its
// running daemon, or, when no daemon answers, from its store.
func RepoEvents(dir string, q EventQuery) ([]EventView, error) {
	var out []EventView
	if err := askDaemon(dir, "/api/v1/events?"+q.Values().Encode(), &out); err == nil {
		return out, nil
	} else if answered(err) {
		return nil, err
	}
	return ReadStopped(dir, func(r *StoppedRepo) ([]EventView, error) { return r.Events(q) })
}

// ErrDaemonStopped is what FollowEvents returns when the daemon it follows
// stops answering.
var ErrDaemonStopped = errors.New("node: the daemon stopped answering")

// FollowEvents reads the events q selects from the running daemon of the
// repo in dir, as RepoEvents does, hands them to fn, then asks again every
// interval for the events since the last one seen (all of them, of q's
// types) and hands fn each new batch, until ctx is done (nil) or the
// daemon stops answering (ErrDaemonStopped). A stopped repo has nothing
// to follow: without a daemon it returns an error at once.
func FollowEvents(ctx context.Context, dir string, q EventQuery, interval time.Duration, fn func([]EventView) error) error {
	if interval <= 0 {
		return fmt.Errorf("node: follow events every %v: want a positive interval", interval)
	}
	// newest is the sequence number of the daemon's newest event of any
	// type, asked before each filtered read: the next read starts after
	// it even when nothing matched, instead of rescanning the whole log
	// at every poll for a rare type.
	newest := func() (uint64, error) {
		if len(q.Types) == 0 {
			return 0, nil // an unfiltered read returns the newest itself
		}
		var last []EventView
		if err := askDaemon(dir, "/api/v1/events?last=1", &last); err != nil || len(last) == 0 {
			return 0, err
		}
		return last[0].Seq, nil
	}
	var (
		evs  []EventView
		seen uint64
	)
	read := func() error {
		evs = nil
		var err error
		if seen, err = newest(); err != nil {
			return err
		}
		return askDaemon(dir, "/api/v1/events?"+q.Values().Encode(), &evs)
	}
	if err := read(); err != nil {
		return fmt.Errorf("node: following events needs a running daemon, and none answers for %s: %w", dir, err)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if len(evs) > 0 {
			if err := fn(evs); err != nil {
				return err
			}
			q.After = evs[len(evs)-1].Seq
		}
		if len(evs) < MaxEvents { // a full read may have stopped short of seen
			q.After = max(q.After, seen)
		}
		q.Last = 0 // every event since the last seen
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := read(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%w: %w", ErrDaemonStopped, err)
		}
	}
}
