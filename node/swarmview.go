package node

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// SwarmView serves the dashboard for several nodes at once, as one swarm:
// the same page, over a read-only API that merges the nodes' own (summed
// counters, the best of the bests, every individual of every node).
// apis returns the nodes' API addresses (host:port on 127.0.0.1).
// evoswarm local serves it.
func SwarmView(apis func() []string) http.Handler {
	c := &http.Client{Timeout: 5 * time.Second}
	get := func(api, path string, v any) error {
		resp, err := c.Get("http://" + api + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", dashboardHandler())
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		var all Status
		all.Rejected = map[string]uint64{}
		nodes := apis()
		// A node stopping or starting does not answer: merge the others.
		for _, st := range gather[Status](nodes, "/api/v1/status", get) {
			all.ExperimentID, all.Running = st.ExperimentID, true
			all.Population += st.Population
			all.Alive += st.Alive
			all.Training += st.Training
			all.SetPoint += st.SetPoint
			all.TrainedTotal += st.TrainedTotal
			all.KilledTotal += st.KilledTotal
			all.Abandoned += st.Abandoned
			all.ErrorsTotal += st.ErrorsTotal
			all.FLOPsTotal += st.FLOPsTotal
			all.TrainingSeconds += st.TrainingSeconds
			if st.ChildPhases != nil {
				if all.ChildPhases == nil {
					all.ChildPhases = &ChildPhases{}
				}
				all.ChildPhases.add(st.ChildPhases)
			}
			all.MigrantsIn += st.MigrantsIn
			all.MigrantsOut += st.MigrantsOut
			all.Received += st.Received
			all.Dropped += st.Dropped
			all.Penalized += st.Penalized
			for k, v := range st.Rejected {
				all.Rejected[k] += v
			}
			if all.StartedAt.IsZero() || st.StartedAt.Before(all.StartedAt) {
				all.StartedAt = st.StartedAt
			}
			if st.Admission != nil {
				if all.Admission == nil {
					a := *st.Admission
					a.finish()
					all.Admission = &a
				} else {
					all.Admission.add(st.Admission)
				}
			}
			if st.Best != nil && (all.Best == nil || st.Best.ValAccuracy > all.Best.ValAccuracy) {
				all.Best = st.Best
			}
		}
		all.PeerID = fmt.Sprintf("swarm of %d nodes", len(nodes))
		all.Peers = len(nodes)
		all.Addrs = []string{}
		reply(w, all, nil)
	})
	mux.HandleFunc("GET /api/v1/individuals", func(w http.ResponseWriter, r *http.Request) {
		out := []Summary{}
		for _, list := range gather[[]Summary](apis(), "/api/v1/individuals", get) {
			out = append(out, list...)
		}
		reply(w, out, nil)
	})
	// An individual's genome or lineage is asked of each node in turn; with
	// no ID, of the node holding the swarm's best.
	forward := func(path string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.RawQuery
			if q == "" {
				var best *Best
				for _, api := range apis() {
					var st Status
					if err := get(api, "/api/v1/status", &st); err == nil && st.Best != nil && (best == nil || st.Best.ValAccuracy > best.ValAccuracy) {
						best = st.Best
					}
				}
				if best == nil {
					http.Error(w, "node: the population is empty", http.StatusNotFound)
					return
				}
				q = "id=" + best.ID
			}
			for _, api := range apis() {
				var v json.RawMessage
				if err := get(api, path+"?"+q, &v); err == nil {
					w.Header().Set("Content-Type", "application/json")
					w.Write(v)
					return
				}
			}
			http.Error(w, "node: no node of the swarm holds that individual", http.StatusNotFound)
		}
	}
	mux.HandleFunc("GET /api/v1/genome", forward("/api/v1/genome"))
	mux.HandleFunc("GET /api/v1/lineage", forward("/api/v1/lineage"))
	// Every node's events that the query selects, merged in time order (a
	// sequence number is its node's; the last N are the swarm's last, and
	// without last, the swarm's first MaxEvents).
	mux.HandleFunc("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		q, err := ParseEventQuery(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if q.After > 0 {
			http.Error(w, "node: after is one node's sequence number; ask that node's API, or use type and last here", http.StatusBadRequest)
			return
		}
		all := []EventView{}
		for _, evs := range gather[[]EventView](apis(), "/api/v1/events?"+q.Values().Encode(), get) {
			all = append(all, evs...) // as for the status: the nodes that answered
		}
		slices.SortStableFunc(all, func(a, b EventView) int { return a.Time.Compare(b.Time) })
		switch {
		case q.Last > 0 && len(all) > min(q.Last, MaxEvents):
			all = all[len(all)-min(q.Last, MaxEvents):] // the newest, as one node answers
		case len(all) > MaxEvents:
			all = all[:MaxEvents]
		}
		reply(w, all, nil)
	})
	return guardLocal(mux)
}

// gather asks every node for path at once and returns the replies of
// those that answered, in the nodes' order: one slow node costs the
// view its timeout once, not once per node before it.
func gather[T any](apis []string, path string, get func(api, path string, v any) error) []T {
	replies := make([]*T, len(apis))
	var wg sync.WaitGroup
	for i, api := range apis {
		wg.Go(func() {
			var v T
			if get(api, path, &v) == nil {
				replies[i] = &v
			}
		})
	}
	wg.Wait()
	out := make([]T, 0, len(apis))
	for _, r := range replies {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out
}
