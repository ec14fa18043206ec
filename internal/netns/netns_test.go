// Package netns runs the multi-host tests in Linux network namespaces
// (scripts/netns-*.sh and scripts/nat-lab.sh) as Go tests, so that CI,
// which runs scripts/test.sh as root, runs them. Each test skips with one
// line when not root or when network namespaces are unavailable. The churn
// soak (scripts/netns-churn.sh) runs for minutes and is not run here; the
// partition test runs when EVOSWARM_NETNS_PARTITION is set.
package netns

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// evoswarm builds this checkout's binary once for all the tests.
func evoswarm(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "evoswarm-netns-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "evoswarm")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/evoswarm").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// needNetns skips unless root can create a network namespace here.
func needNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip netns unavailable (apt-get install iproute2)")
	}
	probe := fmt.Sprintf("evoswarm-probe-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("ip netns unavailable: %v: %s", err, bytes.TrimSpace(out))
	}
	exec.Command("ip", "netns", "del", probe).Run()
}

// runScript runs a script from scripts/ with the built binary and fails
// unless it ends with PASS; a script that skips (a tool missing) skips.
func runScript(t *testing.T, limit time.Duration, script string, args ...string) {
	t.Helper()
	needNetns(t)
	bin := evoswarm(t)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join("..", "..", "scripts", script), "--bin", bin}, args...)...)
	// SIGTERM lets the script's trap stop its daemons and delete its namespaces.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 60 * time.Second
	out, err := cmd.CombinedOutput()
	text := string(out)
	if strings.Contains(text, ": SKIP: ") {
		t.Skip(strings.TrimSpace(text[strings.Index(text, ": SKIP: ")+2:]))
	}
	t.Logf("%s %s:\n%s", script, strings.Join(args, " "), tail(text, 70))
	if err != nil || !strings.Contains(text, "PASS") {
		t.Fatalf("%s failed: %v", script, err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestMDNS(t *testing.T) {
	runScript(t, 3*time.Minute, "netns-mdns.sh", "--timeout", "60")
}

func TestLab(t *testing.T) {
	runScript(t, 5*time.Minute, "netns-lab.sh", "--timeout", "120")
}

// TestPartition takes about a minute and a half; CI's share of time for
// these tests is about three minutes, so it runs when asked:
// EVOSWARM_NETNS_PARTITION=1 go test ./internal/netns -run Partition.
func TestPartition(t *testing.T) {
	if os.Getenv("EVOSWARM_NETNS_PARTITION") == "" {
		t.Skip("set EVOSWARM_NETNS_PARTITION=1 to run (about 90 s; scripts/netns-partition.sh)")
	}
	runScript(t, 6*time.Minute, "netns-partition.sh", "--cut", "20", "--timeout", "90")
}

func TestNATHolePunching(t *testing.T) {
	runScript(t, 6*time.Minute, "nat-lab.sh", "--timeout", "60")
}
