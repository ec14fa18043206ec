package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocalSwarm runs `evoswarm local` with three nodes over 127.0.0.1 for
// a few seconds: every node must receive immigrants (re-measured migrants
// from the others), and every store must verify after the clean stop.
func TestLocalSwarm(t *testing.T) {
	needFashion(t)
	dir := t.TempDir()
	out, errOut, code := run(t, nil, "local", "--nodes", "3", "--preset", "smoke", "--duration", "12s", "--every", "6s", "--dir", dir)
	if code != 0 {
		t.Fatalf("local: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "all nodes stopped") {
		t.Fatalf("local did not stop its nodes:\n%s", out)
	}
	for i := range 3 {
		repo := filepath.Join(dir, fmt.Sprintf("node-%d", i))
		js, errOut, code := run(t, nil, "status", "--repo", repo, "--json")
		if code != 0 {
			t.Fatalf("node %d status: %s", i, errOut)
		}
		var st struct {
			TrainedTotal int `json:"trained_total"`
			MigrantsIn   int `json:"migrants_in"`
			MigrantsOut  int `json:"migrants_out"`
		}
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatal(err)
		}
		t.Logf("node %d: trained %d, migrants in %d, out %d", i, st.TrainedTotal, st.MigrantsIn, st.MigrantsOut)
		if st.TrainedTotal == 0 || st.MigrantsOut == 0 || st.MigrantsIn == 0 {
			t.Errorf("node %d: trained %d, sent %d, accepted %d migrants; want all > 0", i, st.TrainedTotal, st.MigrantsOut, st.MigrantsIn)
		}
		if out, errOut, code := run(t, nil, "verify", "--repo", repo); code != 0 {
			t.Errorf("node %d verify: %s %s", i, out, errOut)
		}
	}
}
