package node

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/train"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestChildPhasesInRunningNode runs a smoke node until it has made a few
// children and checks the child-phase histogram its /metrics serves: one
// series per phase, each counting every child made, with sums that are
// positive, that add up to the whole-child histogram's, and that agree
// with what the status API reports.
func TestChildPhasesInRunningNode(t *testing.T) {
	if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil && os.Getenv("EVOSWARM_DATA") == "" {
		t.Skip("Fashion-MNIST is not installed")
	}
	const children = 6
	dir := t.TempDir()
	exp, err := Preset("smoke") // population 4, 5 steps a child, a migrant every 2 children
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, exp); err != nil {
		t.Fatal(err)
	}
	if err := SaveConfig(dir, LoopbackConfig()); err != nil {
		t.Fatal(err)
	}
	n, err := Open(dir, Options{MaxChildren: children, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := n.Run(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("the node did not stop after its children within 3 minutes")
	}

	// The node has stopped: its metrics and status are final.
	res, body := get(t, n.handler(), "/metrics")
	if res.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", res.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	res, sbody := get(t, n.handler(), "/api/v1/status")
	if res.StatusCode != 200 {
		t.Fatalf("GET /api/v1/status: %d %s", res.StatusCode, sbody)
	}
	var st Status
	if err := json.Unmarshal([]byte(sbody), &st); err != nil {
		t.Fatal(err)
	}
	stats := n.island.Stats()
	made := stats.Children.Load()
	if made < 2 {
		t.Fatalf("the node made %d children: nothing to check", made)
	}
	if want := int64(st.TrainedTotal) - stats.Seeds.Load(); made != want {
		t.Errorf("island made %d children; status counts %d trained, %d of them initial", made, st.TrainedTotal, stats.Seeds.Load())
	}

	phases, ok := families["evoswarm_child_phase_seconds"]
	if !ok {
		t.Fatalf("/metrics lacks evoswarm_child_phase_seconds:\n%s", body)
	}
	sums := map[string]float64{}
	for _, m := range phases.GetMetric() {
		var phase string
		for _, l := range m.GetLabel() {
			if l.GetName() == "phase" {
				phase = l.GetValue()
			}
		}
		h := m.GetHistogram()
		if got := int64(h.GetSampleCount()); got != made {
			t.Errorf("phase %q counts %d children, want the %d made", phase, got, made)
		}
		if h.GetSampleSum() <= 0 {
			t.Errorf("phase %q: sum %v, want positive", phase, h.GetSampleSum())
		}
		if b := h.GetBucket(); len(b) == 0 || b[0].GetUpperBound() > 0.001 || b[len(b)-1].GetUpperBound() < 120 {
			t.Errorf("phase %q: buckets do not cover 1 ms to 120 s", phase)
		}
		sums[phase] = h.GetSampleSum()
	}
	var phaseTotal float64
	for p := range island.NumPhases {
		if _, ok := sums[p.String()]; !ok {
			t.Errorf("no series for phase %q", p)
		}
		phaseTotal += sums[p.String()]
	}
	if len(sums) != int(island.NumPhases) {
		t.Errorf("%d phase series, want %d: %v", len(sums), island.NumPhases, sums)
	}

	whole, ok := families["evoswarm_child_seconds"]
	if !ok || len(whole.GetMetric()) != 1 {
		t.Fatal("/metrics lacks evoswarm_child_seconds")
	}
	wh := whole.GetMetric()[0].GetHistogram()
	if int64(wh.GetSampleCount()) != made {
		t.Errorf("evoswarm_child_seconds counts %d, want %d", wh.GetSampleCount(), made)
	}
	if math.Abs(phaseTotal-wh.GetSampleSum()) > 1e-6*wh.GetSampleSum()+1e-6 {
		t.Errorf("the phases add up to %v s, the children took %v s", phaseTotal, wh.GetSampleSum())
	}

	// Status reports the same observations.
	cp := st.ChildPhases
	if cp == nil {
		t.Fatalf("status has no child_phases: %s", sbody)
	}
	if cp.Children != made {
		t.Errorf("status child_phases.children = %d, want %d", cp.Children, made)
	}
	if len(cp.Phases) != int(island.NumPhases) {
		t.Fatalf("status has %d phases, want %d", len(cp.Phases), island.NumPhases)
	}
	for i, p := range cp.Phases {
		if want := island.Phase(i).String(); p.Phase != want {
			t.Errorf("status phase %d is %q, want %q", i, p.Phase, want)
		}
		if math.Abs(p.Seconds-sums[p.Phase]) > 1e-6 {
			t.Errorf("phase %q: status %v s, metrics %v s", p.Phase, p.Seconds, sums[p.Phase])
		}
	}
	if math.Abs(cp.Seconds-phaseTotal) > 1e-6 {
		t.Errorf("status child_phases.seconds = %v, metrics phases add up to %v", cp.Seconds, phaseTotal)
	}
	// The children's build, training and evaluation are part of the
	// training time status counts (which also has the initial
	// individuals', in whole milliseconds each).
	inTrainer := sums["build"] + sums["train"] + sums["evaluate"]
	if slack := 0.001 * float64(st.TrainedTotal); inTrainer > st.TrainingSeconds+slack {
		t.Errorf("children's build+train+evaluate %v s exceeds status training_seconds %v s", inTrainer, st.TrainingSeconds)
	}
	if sums["train"] > st.TrainingSeconds+0.001*float64(st.TrainedTotal) {
		t.Errorf("children's train phase %v s exceeds status training_seconds %v s", sums["train"], st.TrainingSeconds)
	}
	if !strings.HasPrefix(st.Engine, train.CPUEngine()) {
		t.Errorf("status engine %q, want the build's CPU engine %q", st.Engine, train.CPUEngine())
	}
	if st.MigrantsOut == 0 {
		t.Error("no migrant was sent: the emigrate phase timed nothing")
	}
	t.Logf("%d children: %v; total %.3f s; training_seconds %.3f", made, sums, phaseTotal, st.TrainingSeconds)
}

// TestMetricsObserve: every individual's training time goes to
// evoswarm_training_seconds; only children's phases go to the child
// histograms, one series per phase from the start.
func TestMetricsObserve(t *testing.T) {
	m := newMetrics(metricsStore(t), nil)
	res, body := get(t, m.handler(), "/")
	if res.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", res.StatusCode)
	}
	for p := range island.NumPhases {
		if line := `evoswarm_child_phase_seconds_count{phase="` + p.String() + `"} 0`; !strings.Contains(body, line) {
			t.Errorf("before any child, /metrics lacks %q", line)
		}
	}
	seed := island.Timing{Training: 2 * time.Second, Total: 3 * time.Second}
	seed.Phases[island.PhaseTrain] = 3 * time.Second
	child := island.Timing{Child: true, Training: 5 * time.Second, Total: 10 * time.Second}
	for p := range island.NumPhases {
		child.Phases[p] = time.Duration(p+1) * 250 * time.Millisecond // 0.25 s .. 1.75 s, 7 s in all
	}
	m.observe(seed)
	m.observe(child)
	_, body = get(t, m.handler(), "/")
	for _, line := range []string{
		"evoswarm_training_seconds_count 2",
		"evoswarm_training_seconds_sum 7",
		`evoswarm_child_phase_seconds_count{phase="select"} 1`,
		`evoswarm_child_phase_seconds_sum{phase="select"} 0.25`,
		`evoswarm_child_phase_seconds_sum{phase="train"} 1`,
		`evoswarm_child_phase_seconds_sum{phase="emigrate"} 1.75`,
		`evoswarm_child_phase_seconds_bucket{phase="select",le="0.128"} 0`,
		`evoswarm_child_phase_seconds_bucket{phase="select",le="0.256"} 1`,
		"evoswarm_child_seconds_count 1",
		"evoswarm_child_seconds_sum 10",
	} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	var nilMetrics *metrics
	nilMetrics.observe(child) // a node without metrics: no panic
}
