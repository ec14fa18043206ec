package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulate runs the simulator's verb on a small swarm: the header names
// the policy, every report prints, the budget holds, the CSV has one row a
// node a report, and an isolated run admits nothing.
func TestSimulate(t *testing.T) {
	csvPath := filepath.Join(t.TempDir(), "nodes.csv")
	out, errOut, code := run(t, nil, "simulate", "--nodes", "20", "--minutes", "4", "--reports", "2", "--show", "3", "--csv", csvPath)
	if code != 0 {
		t.Fatalf("simulate exited %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{"simulating 20 nodes for 4 virtual minutes", "topology: random, 2 neighbours",
		"at most 1 admission per 20 trained", "   2.0 ", "   4.0 ", "node-00000", "every node stayed within its admission budget"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 1+2*20 || rows[0][6] != "admitted" {
		t.Errorf("CSV: %d rows (%v), want a header and 40", len(rows), err)
	}
	out, _, code = run(t, nil, "simulate", "--nodes", "5", "--minutes", "2", "--reports", "1", "--emigrate-every", "0", "--show", "5")
	if code != 0 || !strings.Contains(out, "none (no migration") {
		t.Fatalf("isolated: exit %d\n%s", code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 11 && strings.HasPrefix(f[0], "node-") && (f[4] != "0" || f[5] != "0") {
			t.Errorf("an isolated node heard or admitted migrants: %s", line)
		}
	}
	if _, errOut, code := run(t, nil, "simulate", "--topology", "mesh"); code == 0 || !strings.Contains(errOut, "migration.topology") {
		t.Errorf("a bad topology: exit %d, %s", code, errOut)
	}
}
