package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/node"
)

// TestLocalSwarm runs `evoswarm local` with three nodes over 127.0.0.1 for
// a few seconds: every node must send migrants and receive (fetch and
// re-measure) some from the others, some immigrants must win their
// tournaments, and every store must verify after the clean stop.
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
	// The end report: each node's best, the diversity line, the lineage of
	// the best from its initial individual.
	for _, want := range []string{"node-2: best ", "diversity: ", "the lineage of the best", " initial "} {
		if !strings.Contains(out, want) {
			t.Errorf("local's end report lacks %q:\n%s", want, out)
		}
	}
	accepted := 0
	for i := range 3 {
		repo := filepath.Join(dir, fmt.Sprintf("node-%d", i))
		var st struct {
			TrainedTotal int `json:"trained_total"`
			MigrantsIn   int `json:"migrants_in"`
			MigrantsOut  int `json:"migrants_out"`
		}
		js, errOut, code := run(t, nil, "status", "--repo", repo, "--json")
		if code != 0 {
			t.Fatalf("node %d status: %s", i, errOut)
		}
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatal(err)
		}
		received := lastReceived(out, i)
		t.Logf("node %d: trained %d, sent %d, received %d, accepted %d", i, st.TrainedTotal, st.MigrantsOut, received, st.MigrantsIn)
		if st.TrainedTotal == 0 || st.MigrantsOut == 0 || received == 0 {
			t.Errorf("node %d: trained %d, sent %d, received %d migrants; want all > 0", i, st.TrainedTotal, st.MigrantsOut, received)
		}
		accepted += st.MigrantsIn
		if out, errOut, code := run(t, nil, "verify", "--repo", repo); code != 0 {
			t.Errorf("node %d verify: %s %s", i, out, errOut)
		}
	}
	if accepted == 0 {
		t.Error("no immigrant won a tournament on any node")
	}
}

// lastReceived reads node i's "recv" column from the last status table
// `evoswarm local` printed.
func lastReceived(out string, i int) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 9 && f[0] == fmt.Sprint(i) {
			fmt.Sscan(f[6], &n)
		}
	}
	return n
}

// TestLocalNodesStopWithTheirParent: a `local` swarm whose parent is killed
// with SIGKILL (a closed terminal does as much) leaves no daemon behind:
// each stops as on Ctrl-C, and its repo is free again.
func TestLocalNodesStopWithTheirParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux stops children when their parent dies")
	}
	needFashion(t)
	dir := t.TempDir()
	parent := exec.Command(binary(t), "local", "--nodes", "2", "--preset", "smoke", "--dir", dir)
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	defer parent.Process.Kill()
	files := []string{filepath.Join(dir, "node-0", node.DaemonFile), filepath.Join(dir, "node-1", node.DaemonFile)}
	exists := func(f string) bool { _, err := os.Stat(f); return err == nil }
	for deadline := time.Now().Add(time.Minute); !exists(files[0]) || !exists(files[1]); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the two daemons did not start within a minute")
		}
	}
	parent.Process.Signal(syscall.SIGKILL)
	parent.Wait()
	for deadline := time.Now().Add(time.Minute); exists(files[0]) || exists(files[1]); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("daemons still running a minute after their parent was killed")
		}
	}
	for _, repo := range []string{filepath.Join(dir, "node-0"), filepath.Join(dir, "node-1")} {
		if out, errOut, code := run(t, nil, "verify", "--repo", repo); code != 0 {
			t.Errorf("%s after its parent died: verify exit %d: %s %s", repo, code, out, errOut)
		}
	}
}

// A --dir whose repos hold another experiment is refused before any node
// starts: the nodes would run the old experiment under the new one's name.
func TestLocalRefusesAnotherExperimentsRepos(t *testing.T) {
	needFashion(t)
	dir := t.TempDir()
	if _, errOut, code := run(t, nil, "init", "--repo", filepath.Join(dir, "node-0"), "--preset", "smoke"); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	out, errOut, code := run(t, nil, "local", "--nodes", "2", "--preset", "cpu-small", "--duration", "5s", "--dir", dir)
	if code == 0 || !strings.Contains(errOut, "holds experiment") || !strings.Contains(errOut, "(smoke)") {
		t.Fatalf("local over a smoke repo with --preset cpu-small: exit %d, want a refusal naming both experiments\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "node-1")); !os.IsNotExist(err) {
		t.Errorf("node-1 was made before the refusal: %v", err)
	}
	if strings.Contains(out, "node 0: peer") {
		t.Errorf("a node started before the refusal:\n%s", out)
	}
}
