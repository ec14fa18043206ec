package node

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/store"
)

// fakeNode serves a node's status, individuals and events.
func fakeNode(t *testing.T, st Status, inds []Summary, evs ...EventView) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("type") != "error" {
			t.Errorf("the swarm view asked a node for events with %q, want the client's query", r.URL.RawQuery)
		}
		reply(w, evs, nil)
	})
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) { reply(w, st, nil) })
	mux.HandleFunc("GET /api/v1/individuals", func(w http.ResponseWriter, r *http.Request) { reply(w, inds, nil) })
	mux.HandleFunc("GET /api/v1/lineage", func(w http.ResponseWriter, r *http.Request) {
		for _, s := range inds {
			if r.URL.Query().Get("id") == s.ID {
				reply(w, []Ancestor{{ID: s.ID}}, nil)
				return
			}
		}
		http.Error(w, "not here", http.StatusNotFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestSwarmViewMerges(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 5, 0, 0, 0, time.UTC)
	a := fakeNode(t, Status{Alive: 3, TrainedTotal: 10, FLOPsTotal: 1e9, Rejected: map[string]uint64{"replay": 2},
		Best:        &Best{ID: strings.Repeat("a", 64), ValAccuracy: 0.5},
		ChildPhases: &ChildPhases{Children: 2, Seconds: 3, Phases: []PhaseSeconds{{"select", 1}, {"train", 2}}}},
		[]Summary{{ID: strings.Repeat("a", 64)}},
		EventView{Seq: 3, Time: t0.Add(2 * time.Second), Type: store.EventError, Detail: "a3"},
		EventView{Seq: 9, Time: t0.Add(4 * time.Second), Type: store.EventError, Detail: "a9"})
	b := fakeNode(t, Status{Alive: 4, TrainedTotal: 5, FLOPsTotal: 2e9, Rejected: map[string]uint64{"replay": 1, "stale": 4},
		Best:        &Best{ID: strings.Repeat("b", 64), ValAccuracy: 0.7},
		ChildPhases: &ChildPhases{Children: 1, Seconds: 5, Phases: []PhaseSeconds{{"select", 0.5}, {"train", 4.5}}}},
		[]Summary{{ID: strings.Repeat("b", 64)}, {ID: strings.Repeat("c", 64)}},
		EventView{Seq: 5, Time: t0.Add(3 * time.Second), Type: store.EventError, Detail: "b5"},
		EventView{Seq: 6, Time: t0.Add(5 * time.Second), Type: store.EventError, Detail: "b6"})
	view := httptest.NewServer(SwarmView(func() []string { return []string{a, b} }))
	defer view.Close()
	get := func(path string, v any) {
		resp, err := http.Get(view.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var st Status
	get("/api/v1/status", &st)
	if st.Alive != 7 || st.TrainedTotal != 15 || st.FLOPsTotal != 3e9 || st.Rejected["replay"] != 3 || st.Rejected["stale"] != 4 {
		t.Errorf("merged status %+v: want sums of the nodes'", st)
	}
	if cp := st.ChildPhases; cp == nil || cp.Children != 3 || cp.Seconds != 8 || len(cp.Phases) != 2 ||
		cp.Phases[0] != (PhaseSeconds{"select", 1.5}) || cp.Phases[1] != (PhaseSeconds{"train", 6.5}) {
		t.Errorf("merged child phases %+v: want the nodes' summed phase by phase", st.ChildPhases)
	}
	if st.Best == nil || st.Best.ValAccuracy != 0.7 || st.Peers != 2 {
		t.Errorf("merged best %+v, peers %d: want the best of the bests and 2 nodes", st.Best, st.Peers)
	}
	var inds []Summary
	get("/api/v1/individuals", &inds)
	if len(inds) != 3 {
		t.Errorf("%d individuals, want all 3", len(inds))
	}
	// Events: both nodes', in time order, the last 3 of the swarm.
	var evs []EventView
	get("/api/v1/events?type=error&last=3", &evs)
	var got []string
	for _, e := range evs {
		got = append(got, e.Detail)
	}
	if strings.Join(got, " ") != "b5 a9 b6" {
		t.Errorf("merged events %v, want the swarm's last 3 in time order: b5 a9 b6", got)
	}
	get("/api/v1/events?type=error", &evs)
	if len(evs) != 4 || evs[0].Detail != "a3" || evs[3].Detail != "b6" {
		t.Errorf("all merged events %+v: want a3 b5 a9 b6", evs)
	}
	// after is a node's sequence number: refused here, not applied to each.
	if resp, err := http.Get(view.URL + "/api/v1/events?after=4"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("swarm events after=4: %v %v; want 400", resp.Status, err)
	} else {
		resp.Body.Close()
	}
	var l []Ancestor
	get("/api/v1/lineage", &l) // no id: the swarm's best, held by node b
	if len(l) != 1 || l[0].ID != strings.Repeat("b", 64) {
		t.Errorf("lineage %+v: want the best's, from the node that holds it", l)
	}
}
