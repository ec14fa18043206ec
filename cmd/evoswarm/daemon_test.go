package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/node"
)

// needFashion skips when Fashion-MNIST is not installed (scripts/deps.sh
// installs it; CI has it).
func needFashion(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil && os.Getenv("EVOSWARM_DATA") == "" {
		t.Skip("Fashion-MNIST is not installed")
	}
}

// daemon is a running `evoswarm daemon`.
type daemon struct {
	cmd   *exec.Cmd
	api   string
	addrs []string // the "listening on" lines
}

// startDaemon starts a daemon on repo and waits for "ready".
func startDaemon(t *testing.T, repo string, args ...string) *daemon {
	t.Helper()
	return startDaemonBin(t, binary(t), repo, args...)
}

// startDaemonBin is startDaemon with another build of evoswarm.
func startDaemonBin(t *testing.T, bin, repo string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"daemon", "--repo", repo, "--log-level", "warn"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd}
	lines := bufio.NewScanner(out)
	deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for lines.Scan() {
		line := lines.Text()
		if a, ok := strings.CutPrefix(line, "API listening on http://"); ok {
			d.api = a
		} else if a, ok := strings.CutPrefix(line, "listening on "); ok {
			d.addrs = append(d.addrs, a)
		}
		if line == "ready" {
			go func() {
				for lines.Scan() {
				}
			}()
			return d
		}
	}
	cmd.Wait()
	t.Fatalf("daemon exited before it was ready")
	return nil
}

func (d *daemon) get(t *testing.T, path string, v any) error {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + d.api + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func initRepo(t *testing.T, preset string) string {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "repo")
	if _, errOut, code := run(t, nil, "init", "--repo", repo, "--preset", preset); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	loopbackOnly(t, repo)
	return repo
}

func TestInitRefusesExistingRepo(t *testing.T) {
	needFashion(t)
	repo := initRepo(t, "smoke")
	_, errOut, code := run(t, nil, "init", "--repo", repo, "--preset", "smoke")
	if code == 0 || !strings.Contains(errOut, "repo already exists") {
		t.Errorf("second init: exit %d, %q; want a refusal", code, errOut)
	}
}

func TestInvalidExperimentFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ body, want string }{
		{`{"data":"fashion-mnist","population":1}`, "population"},
		{`{"data":"fashion-mnist","populaton":20}`, `unknown field "populaton"`},
		{`{"population":"many"}`, `field "population"`},
	} {
		path := filepath.Join(dir, "exp.json")
		os.WriteFile(path, []byte(tc.body), 0o644)
		_, errOut, code := run(t, nil, "init", "--repo", filepath.Join(dir, "r"), "--experiment", path)
		if code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("experiment %s: exit %d, stderr %q; want one line naming %q", tc.body, code, errOut, tc.want)
		}
	}
}

func TestSecondDaemonRefused(t *testing.T) {
	needFashion(t)
	repo := initRepo(t, "smoke")
	first := startDaemon(t, repo)
	defer first.cmd.Process.Kill()
	_, errOut, code := run(t, nil, "daemon", "--repo", repo)
	if code == 0 || !strings.Contains(errOut, "another evoswarm process is using "+repo) {
		t.Errorf("second daemon: exit %d, %q", code, errOut)
	}
	var st map[string]any
	if err := first.get(t, "/api/v1/status", &st); err != nil {
		t.Errorf("the first daemon stopped answering: %v", err)
	}
	first.cmd.Process.Signal(os.Interrupt)
	if err := first.cmd.Wait(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	if out, errOut, code := run(t, nil, "verify", "--repo", repo); code != 0 {
		t.Errorf("verify after a graceful stop: exit %d: %s %s", code, out, errOut)
	}
}

// TestDaemonOutlivesItsLogReader: a daemon whose stdout and stderr are
// pipes to a reader that is gone (the `evoswarm local` that started it was
// killed; `evoswarm daemon | head`) still stops cleanly on SIGTERM: the log
// line it writes then fails, and must not kill it with SIGPIPE halfway
// through its shutdown, leaving daemon.json behind.
func TestDaemonOutlivesItsLogReader(t *testing.T) {
	needFashion(t)
	repo := initRepo(t, "smoke")
	cmd := exec.Command(binary(t), "daemon", "--repo", repo, "--log-level", "info")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	go func() { // drain stderr until the test closes it
		buf := make([]byte, 4096)
		for {
			if _, err := errPipe.Read(buf); err != nil {
				return
			}
		}
	}()
	lines := bufio.NewScanner(out)
	ready := false
	deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	for !ready && lines.Scan() {
		ready = lines.Text() == "ready"
	}
	deadline.Stop()
	if !ready {
		t.Fatal("daemon exited before it was ready")
	}
	daemonFile := filepath.Join(repo, node.DaemonFile)
	if _, err := os.Stat(daemonFile); err != nil {
		t.Fatalf("a running daemon has no %s: %v", node.DaemonFile, err)
	}
	// The reader goes away; the daemon's next line at info level ("shutting
	// down") meets a closed pipe.
	out.Close()
	errPipe.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon stopped with %v, want a clean exit", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("daemon still running a minute after SIGTERM")
	}
	if _, err := os.Stat(daemonFile); !os.IsNotExist(err) {
		t.Errorf("%s left behind after a clean stop: %v", node.DaemonFile, err)
	}
}

// TestKillNineRestarts is the short crash drill CI runs
// (scripts/crash-test.sh runs 20 kills): a daemon killed with SIGKILL at a
// random moment restarts with every individual it had reported, none
// duplicated, and a consistent store.
func TestKillNineRestarts(t *testing.T) {
	needFashion(t)
	repo := initRepo(t, "smoke")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	seen := map[string]bool{}
	for round := range 3 {
		d := startDaemon(t, repo)
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		var list []struct {
			ID string `json:"id"`
		}
		if err := d.get(t, "/api/v1/individuals", &list); err != nil {
			t.Fatal(err)
		}
		d.cmd.Process.Signal(syscall.SIGKILL)
		d.cmd.Wait()
		for _, s := range list {
			seen[s.ID] = true
		}
		out, errOut, code := run(t, nil, "verify", "--repo", repo, "--json")
		if code != 0 {
			t.Fatalf("round %d: verify after kill -9: exit %d: %s %s", round, code, out, errOut)
		}
		var v node.Verification
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		have := map[string]int{}
		for _, id := range v.IDs {
			have[id]++
		}
		for id := range seen {
			if have[id] != 1 {
				t.Fatalf("round %d: individual %s reported before the kill is present %d times after it", round, id[:12], have[id])
			}
		}
		t.Logf("round %d: %d individuals reported before the kill; after: %d alive, %d dead, %d training", round, len(list), v.Alive, v.Dead, v.Training)
	}
	if len(seen) == 0 {
		t.Fatal("no individual was ever reported: the drill tested nothing")
	}
}

// loopbackOnly makes a repo's node talk to 127.0.0.1 only: tests send no
// traffic anywhere else (no mDNS, no DHT, no port mapping).
func loopbackOnly(t *testing.T, repo string) {
	t.Helper()
	if err := node.SaveConfig(repo, node.LoopbackConfig()); err != nil {
		t.Fatal(err)
	}
}
