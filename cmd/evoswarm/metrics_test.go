package main

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsAgreeWithStatus: a running daemon's /metrics parses as the
// Prometheus text format, and its counters agree with `status --json`
// taken just before and just after the scrape.
func TestMetricsAgreeWithStatus(t *testing.T) {
	needFashion(t)
	repo := initRepo(t, "smoke")
	d := startDaemon(t, repo)
	defer func() {
		d.cmd.Process.Signal(os.Interrupt)
		d.cmd.Wait()
	}()
	time.Sleep(2 * time.Second)
	type status struct {
		Trained uint64  `json:"trained_total"`
		Killed  uint64  `json:"killed_total"`
		FLOPs   float64 `json:"flops_total"`
	}
	var before, after status
	if err := d.get(t, "/api/v1/status", &before); err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + d.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	// Legacy validation: the classic text format's metric names.
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	if err := d.get(t, "/api/v1/status", &after); err != nil {
		t.Fatal(err)
	}
	value := func(name string) float64 {
		f, ok := families[name]
		if !ok || len(f.GetMetric()) != 1 {
			t.Fatalf("metric %s missing or not a single series", name)
		}
		m := f.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	for _, c := range []struct {
		name   string
		lo, hi float64
	}{
		{"evoswarm_individuals_trained_total", float64(before.Trained), float64(after.Trained)},
		{"evoswarm_individuals_killed_total", float64(before.Killed), float64(after.Killed)},
		{"evoswarm_flops_total", before.FLOPs, after.FLOPs},
	} {
		if v := value(c.name); v < c.lo || v > c.hi {
			t.Errorf("%s = %v, status reported %v before and %v after", c.name, v, c.lo, c.hi)
		}
	}
	if before.Trained == 0 {
		t.Error("nothing was trained: the comparison tested nothing")
	}
}
