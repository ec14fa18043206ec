package node

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/store"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// metricsStore returns an in-memory store holding three local individuals
// (one killed, one diverged) and one immigrant.
func metricsStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	inds := []*store.Individual{
		{ID: dna.ID{1}, Fitness: 0.2, Born: now, TrainFLOPs: 1e9, EvalFLOPs: 1e8},
		{ID: dna.ID{2}, Fitness: 0.7, Born: now.Add(time.Minute), TrainFLOPs: 2e9},
		{ID: dna.ID{3}, Fitness: 0, Born: now.Add(2 * time.Minute), Error: "loss diverged (NaN) at step 3"},
		{ID: dna.ID{4}, Fitness: 0.8, Born: now.Add(3 * time.Minute), Immigrant: true, Origin: "elsewhere", ClaimedFitness: 0.81},
	}
	for _, ind := range inds {
		if err := s.Update(func(tx *store.Tx) error { return tx.Insert(ind, store.Seal([]byte("w"))) }); err != nil {
			t.Fatal(err)
		}
	}
	err = s.Update(func(tx *store.Tx) error {
		if err := tx.Kill(dna.ID{1}, "lost", now.Add(4*time.Minute)); err != nil {
			return err
		}
		return tx.AddCounter(store.CounterAbandoned, 2)
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMetricsValues(t *testing.T) {
	s := metricsStore(t)
	ex := &exchange{}
	ex.Remeasured.Store(5)
	ex.Dropped.Store(2)
	ex.Penalized.Store(1)
	m := newMetrics(s, ex)
	m.observeTraining(3)
	m.observeTraining(70)
	ex.onClaim(0.01)
	ex.onClaim(0.3)

	want := `
# HELP evoswarm_individuals_trained_total Individuals trained here and inserted into the population.
# TYPE evoswarm_individuals_trained_total counter
evoswarm_individuals_trained_total 3
# HELP evoswarm_individuals_killed_total Individuals killed by a tournament.
# TYPE evoswarm_individuals_killed_total counter
evoswarm_individuals_killed_total 1
# HELP evoswarm_tasks_abandoned_total Tournament tasks given up after a conflict, and trainings a stop interrupted.
# TYPE evoswarm_tasks_abandoned_total counter
evoswarm_tasks_abandoned_total 2
# HELP evoswarm_training_errors_total Trainings that went wrong (diverged or failed).
# TYPE evoswarm_training_errors_total counter
evoswarm_training_errors_total 1
# HELP evoswarm_flops_total Floating-point operations spent training and evaluating here.
# TYPE evoswarm_flops_total counter
evoswarm_flops_total 3.1e+09
# HELP evoswarm_best_validation_accuracy_ratio Validation accuracy of the fittest live individual (absent while the population is empty).
# TYPE evoswarm_best_validation_accuracy_ratio gauge
evoswarm_best_validation_accuracy_ratio 0.8
# HELP evoswarm_population_alive Live individuals in the population.
# TYPE evoswarm_population_alive gauge
evoswarm_population_alive 3
# HELP evoswarm_migrants_accepted_total Immigrants that won their tournament and joined the population.
# TYPE evoswarm_migrants_accepted_total counter
evoswarm_migrants_accepted_total 1
# HELP evoswarm_migrants_received_total Announced migrants whose weights were fetched and whose fitness was re-measured here.
# TYPE evoswarm_migrants_received_total counter
evoswarm_migrants_received_total 5
# HELP evoswarm_migrants_dropped_total Announced migrants given up: weights unreachable or not matching their announcement.
# TYPE evoswarm_migrants_dropped_total counter
evoswarm_migrants_dropped_total 2
# HELP evoswarm_claims_penalized_total Migrant claims (fitness or weights) far from what was measured here; their senders were penalised.
# TYPE evoswarm_claims_penalized_total counter
evoswarm_claims_penalized_total 1
`
	names := []string{"evoswarm_individuals_trained_total", "evoswarm_individuals_killed_total", "evoswarm_tasks_abandoned_total",
		"evoswarm_training_errors_total", "evoswarm_flops_total", "evoswarm_best_validation_accuracy_ratio",
		"evoswarm_population_alive", "evoswarm_migrants_accepted_total", "evoswarm_migrants_received_total",
		"evoswarm_migrants_dropped_total", "evoswarm_claims_penalized_total"}
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if got := testutil.CollectAndCount(m.training); got != 1 {
		t.Errorf("training histogram has %d series, want 1", got)
	}

	// The text served over HTTP.
	srv := httptest.NewServer(m.handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s: %s", resp.Status, body)
	}
	text := string(body)
	for _, line := range []string{
		"evoswarm_training_seconds_count 2",
		"evoswarm_training_seconds_sum 73",
		`evoswarm_training_seconds_bucket{le="4"} 1`,
		"evoswarm_migrant_claim_error_ratio_count 2",
		`evoswarm_migrant_claim_error_ratio_bucket{le="0.05"} 1`,
		`evoswarm_build_info{goversion="`,
		"evoswarm_migrants_sent_total 0",
		"evoswarm_population_training 0",
		"go_memstats_heap_inuse_bytes ",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("GET /metrics lacks %q; got:\n%s", line, text)
		}
	}
}

// An empty store has no best accuracy to report, and no exchange means no
// migrant or peer metrics; the scrape still succeeds.
func TestMetricsEmptyStore(t *testing.T) {
	s, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := newMetrics(s, nil)
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "evoswarm_best_validation_accuracy_ratio", "evoswarm_migrants_received_total", "evoswarm_peers":
			t.Errorf("empty store without exchange: got %s", mf.GetName())
		}
	}
}

// Several nodes in one process each have their own registry.
func TestMetricsRegistriesIndependent(t *testing.T) {
	a, b := newMetrics(metricsStore(t), nil), newMetrics(metricsStore(t), nil)
	a.observeTraining(1)
	for _, tc := range []struct {
		name string
		m    *metrics
		want uint64
	}{{"a", a, 1}, {"b", b, 0}} {
		mfs, err := tc.m.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "evoswarm_training_seconds" {
				if got := mf.GetMetric()[0].GetHistogram().GetSampleCount(); got != tc.want {
					t.Errorf("node %s: evoswarm_training_seconds_count = %d, want %d", tc.name, got, tc.want)
				}
			}
		}
	}
}
