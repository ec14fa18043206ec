package node

import (
	"math"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
)

// TestEventsQuery checks the selection of events: by type, after a
// sequence number, the last N (a ring over a longer history), and the
// query's round trip through the API's URL.
func TestEventsQuery(t *testing.T) {
	s, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	types := []store.EventType{store.EventBirth, store.EventError, store.EventBirth, store.EventAbandon, store.EventBirth, store.EventError, store.EventBirth}
	err = s.Update(func(tx *store.Tx) error {
		for i, typ := range types {
			var id dna.ID
			id[0] = byte(i + 1)
			if err := tx.AppendEvent(&store.Event{Time: t0.Add(time.Duration(i) * time.Second), Type: typ, ID: id, Detail: string(typ)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seqs := func(evs []EventView) []uint64 {
		out := []uint64{}
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	for _, tc := range []struct {
		q    EventQuery
		want []uint64
	}{
		{EventQuery{}, []uint64{1, 2, 3, 4, 5, 6, 7}},
		{EventQuery{Types: []store.EventType{store.EventError, store.EventAbandon}}, []uint64{2, 4, 6}},
		{EventQuery{After: 4}, []uint64{5, 6, 7}},
		{EventQuery{Last: 3}, []uint64{5, 6, 7}},
		{EventQuery{Types: []store.EventType{store.EventBirth}, Last: 2}, []uint64{5, 7}},
		{EventQuery{Types: []store.EventType{store.EventBirth}, After: 3, Last: 10}, []uint64{5, 7}},
		{EventQuery{After: 7}, []uint64{}},
		{EventQuery{Last: 100}, []uint64{1, 2, 3, 4, 5, 6, 7}},
		{EventQuery{After: 5, Last: 1}, []uint64{7}},
		{EventQuery{After: 5, Last: 9}, []uint64{6, 7}},
		{EventQuery{Types: []store.EventType{store.EventError}, After: 2, Last: 1}, []uint64{6}},
		{EventQuery{After: math.MaxUint64}, []uint64{}}, // After+1 must not wrap to the start
	} {
		evs, err := Events(s, tc.q)
		if err != nil || !reflect.DeepEqual(seqs(evs), tc.want) {
			t.Errorf("%+v: %v %v; want %v", tc.q, seqs(evs), err, tc.want)
		}
		for _, e := range evs {
			if e.Detail != string(e.Type) || !e.Time.Equal(t0.Add(time.Duration(e.Seq-1)*time.Second)) || !strings.HasPrefix(e.ID, "0") {
				t.Errorf("event %d read back as %+v", e.Seq, e)
			}
		}
		back, err := ParseEventQuery(tc.q.Values())
		if err != nil || !reflect.DeepEqual(back, tc.q) {
			t.Errorf("query %+v round-trips as %+v, %v", tc.q, back, err)
		}
	}
	for _, bad := range []string{"type=births", "after=-1", "last=x", "last=-2"} {
		v, _ := url.ParseQuery(bad)
		if _, err := ParseEventQuery(v); err == nil {
			t.Errorf("query %q: no error", bad)
		}
	}
}
