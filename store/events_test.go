package store

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

func TestEventLogOrderAndContents(t *testing.T) {
	s, _ := openDisk(t)
	root := newInd(1, dna.ID{}, 0.2)
	child := newInd(2, root.ID, 0.4)
	child.Mutation = "add-skip"
	migrant := newInd(3, testID(77), 0.6)
	migrant.Immigrant, migrant.Origin = true, "12D3KooWother"
	insert(t, s, root)
	insert(t, s, child, migrant)
	killed := t0.Add(time.Hour)
	if err := s.Update(func(tx *Tx) error { return tx.Kill(root.ID, "lost to child", killed) }); err != nil {
		t.Fatal(err)
	}
	custom := &Event{Type: EventAbandon, Detail: "pair changed"}
	if err := s.Update(func(tx *Tx) error { return tx.AppendEvent(custom) }); err != nil {
		t.Fatal(err)
	}
	if custom.Seq != 5 || custom.Time.IsZero() {
		t.Errorf("AppendEvent set seq %d, time %v; want 5 and now", custom.Seq, custom.Time)
	}

	want := []Event{
		{Seq: 1, Time: root.Born, Type: EventBirth, ID: root.ID, Fitness: 0.2, Mutation: root.Mutation, Origin: root.Origin},
		{Seq: 2, Time: child.Born, Type: EventBirth, ID: child.ID, Parent: root.ID, Fitness: 0.4, Mutation: "add-skip", Origin: child.Origin},
		{Seq: 3, Time: migrant.Born, Type: EventImmigration, ID: migrant.ID, Parent: testID(77), Fitness: 0.6, Mutation: migrant.Mutation, Origin: "12D3KooWother"},
		{Seq: 4, Time: killed, Type: EventDeath, ID: root.ID, Fitness: 0.2, Mutation: root.Mutation, Origin: root.Origin, Detail: "lost to child"},
		{Seq: 5, Time: custom.Time, Type: EventAbandon, Detail: "pair changed"},
	}
	var got []Event
	if err := s.Events(0, func(ev Event) error { got = append(got, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) {
			t.Errorf("event %d: time %v, want %v", i+1, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("event %d =\n%+v\nwant\n%+v", i+1, g, w)
		}
	}

	// Resuming from a sequence number, and stopping early.
	var seqs []uint64
	s.Events(3, func(ev Event) error { seqs = append(seqs, ev.Seq); return nil })
	if len(seqs) != 3 || seqs[0] != 3 || seqs[2] != 5 {
		t.Errorf("Events(3) gave seqs %v, want [3 4 5]", seqs)
	}
	stop := errors.New("stop")
	n := 0
	err := s.Events(1, func(Event) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("Events with a failing fn returned %v after %d calls, want stop after 1", err, n)
	}
	// Backward: newest first, down to from, and stopping early likewise.
	for _, tc := range []struct {
		from uint64
		want []uint64
	}{{0, []uint64{5, 4, 3, 2, 1}}, {3, []uint64{5, 4, 3}}, {5, []uint64{5}}, {6, nil}} {
		seqs = nil
		if err := s.EventsBackward(tc.from, func(ev Event) error { seqs = append(seqs, ev.Seq); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs, tc.want) {
			t.Errorf("EventsBackward(%d) gave seqs %v, want %v", tc.from, seqs, tc.want)
		}
	}
	n = 0
	if err := s.EventsBackward(1, func(ev Event) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("EventsBackward with a failing fn returned %v after %d calls, want stop after 1", err, n)
	}
	if err := s.Update(func(tx *Tx) error { return tx.AppendEvent(&Event{Type: "party"}) }); !errors.Is(err, ErrInvalid) {
		t.Errorf("AppendEvent of an unknown type: %v, want ErrInvalid", err)
	}
	verify(t, s)
}
