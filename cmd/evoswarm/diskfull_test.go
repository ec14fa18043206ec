//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/node"
)

// TestDaemonStopsOnFullDisk is the short disk-full drill
// (scripts/disk-full-test.sh is the long one): a daemon whose repo is on a
// small tmpfs that fills up stops by itself with a one-line "disk full"
// error, and a restart refuses while the disk stays full; once the space
// is freed, verify passes, every individual it had
// reported is there exactly once, and a restarted daemon trains on.
func TestDaemonStopsOnFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	needFashion(t)
	const (
		size     = 256 << 20
		minFree  = 96 << 20
		headroom = minFree / 2 // really free after the ballast: Badger's own unchecked writes need it
	)
	mnt := t.TempDir() // registered first, so removed after the umount below
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	repo := filepath.Join(mnt, "repo")
	if _, errOut, code := dfRun(t, time.Minute, "init", "--repo", repo, "--preset", "smoke"); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	loopbackOnly(t, repo)
	minFreeArg := []string{"--min-free", strconv.Itoa(minFree)}

	seen := map[string]bool{}
	record := func(d *dfDaemon) error {
		var list []struct {
			ID string `json:"id"`
		}
		if err := d.get(t, "/api/v1/individuals", &list); err != nil {
			return err
		}
		for _, s := range list {
			seen[s.ID] = true
		}
		return nil
	}

	d := startDFDaemon(t, repo, minFreeArg...)
	time.Sleep(time.Second)
	if err := record(d); err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 {
		t.Fatal("the daemon reported no individual after 1 s")
	}

	free := dfFree(t, mnt)
	ballast := int64(free) - headroom
	if ballast <= 0 {
		t.Fatalf("only %d bytes free before the ballast", free)
	}
	dfBallast(t, filepath.Join(mnt, "ballast"), ballast)
	t.Logf("%d individuals reported; ballast of %d MiB leaves %d MiB free (--min-free %d MiB)",
		len(seen), ballast>>20, dfFree(t, mnt)>>20, minFree>>20)

	deadline := time.After(time.Minute)
wait:
	for {
		select {
		case <-d.done:
			break wait
		case <-deadline:
			t.Fatalf("the daemon still runs 60 s after the disk filled up; stderr:\n%s", d.stderr.String())
		case <-time.After(200 * time.Millisecond):
			record(d) // what it reports up to the end must survive too
		}
	}
	stderr := d.stderr.String()
	code := dfExitCode(d.err)
	t.Logf("daemon exit %d, stderr:\n%s", code, stderr)
	if code <= 0 {
		t.Fatalf("the daemon on a full disk: exit %d (%v), want an error exit", code, d.err)
	}
	for _, bad := range []string{"SIGBUS", "panic", "fatal error", "unexpected fault"} {
		if strings.Contains(stderr, bad) {
			t.Fatalf("the daemon crashed (%q on stderr)", bad)
		}
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "evoswarm: ") || !strings.Contains(last, "disk full") || !strings.Contains(last, "free some space") {
		t.Errorf("the daemon's last line is %q; want one line \"evoswarm: ...\" that says \"disk full\" and to free some space", last)
	}

	// A restart while the disk is still full refuses at once, with the
	// same advice, before it kills anyone in a tournament.
	if _, errOut, code := dfRun(t, time.Minute, append([]string{"daemon", "--repo", repo}, minFreeArg...)...); code <= 0 ||
		!strings.Contains(errOut, "disk full") || !strings.Contains(errOut, "free some space") {
		t.Errorf("a restart on the full disk: exit %d, stderr %q; want an error exit that says disk full and to free some space", code, errOut)
	}
	if err := os.Remove(filepath.Join(mnt, "ballast")); err != nil {
		t.Fatal(err)
	}
	dfVerify(t, repo, seen, "after the disk-full stop")
	before := dfTrainedTotal(t, repo)

	d = startDFDaemon(t, repo, minFreeArg...)
	after := before
	for end := time.Now().Add(time.Minute); after <= before && time.Now().Before(end); {
		time.Sleep(200 * time.Millisecond)
		after = dfTrainedTotal(t, repo)
	}
	if after <= before {
		t.Fatalf("the restarted daemon did not train in 60 s: trained_total stays %d; stderr:\n%s", before, d.stderr.String())
	}
	if err := record(d); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon did not stop within 30 s of SIGINT")
	}
	if d.err != nil {
		t.Fatalf("graceful stop after the restart: %v; stderr:\n%s", d.err, d.stderr.String())
	}
	dfVerify(t, repo, seen, "after the restart")
	t.Logf("trained_total %d before the restart, %d after", before, after)
}

// dfDaemon is a running daemon whose stderr is kept.
type dfDaemon struct {
	*daemon
	stderr dfBuffer
	done   chan struct{} // closed when the process has exited; err is then set
	err    error
}

// startDFDaemon starts a daemon on repo and waits (up to 60 s) for
// "ready". A cleanup kills it if it still runs.
func startDFDaemon(t *testing.T, repo string, args ...string) *dfDaemon {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"daemon", "--repo", repo, "--log-level", "warn"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &dfDaemon{daemon: &daemon{cmd: cmd}, done: make(chan struct{})}
	cmd.Stderr = &d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		lines := bufio.NewScanner(out)
		ok := false
		for lines.Scan() {
			line := lines.Text()
			if a, found := strings.CutPrefix(line, "API listening on http://"); found {
				d.api = a
			}
			if line == "ready" && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
		d.err = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			cmd.Process.Kill()
			<-d.done
		}
	})
	select {
	case ok := <-ready:
		if !ok {
			<-d.done
			t.Fatalf("the daemon exited before it was ready: %v; stderr:\n%s", d.err, d.stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("the daemon was not ready after 60 s; stderr:\n%s", d.stderr.String())
	}
	return d
}

// dfBuffer is a bytes.Buffer safe for a writer and a reader at once.
type dfBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *dfBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *dfBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dfRun is run with a time limit.
func dfRun(t *testing.T, limit time.Duration, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("evoswarm %s did not finish in %v", strings.Join(args, " "), limit)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return out.String(), errb.String(), dfExitCode(err)
}

// dfExitCode is the exit status in err from exec (0 for nil, -1 for a
// signal).
func dfExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func dfFree(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// dfBallast creates a file of n bytes that really takes the space.
func dfBallast(t *testing.T, path string, n int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, n); err == nil {
		return
	}
	buf := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			t.Fatalf("write the ballast: %v", err)
		}
		n -= k
	}
}

// dfVerify runs verify on the stopped repo: it must pass and hold every
// ID in seen exactly once.
func dfVerify(t *testing.T, repo string, seen map[string]bool, when string) {
	t.Helper()
	out, errOut, code := dfRun(t, time.Minute, "verify", "--repo", repo, "--json")
	if code != 0 {
		t.Fatalf("%s: verify: exit %d: %s %s", when, code, out, errOut)
	}
	var v node.Verification
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if !v.OK {
		t.Fatalf("%s: verify: %v", when, v.Problems)
	}
	have := map[string]int{}
	for _, id := range v.IDs {
		have[id]++
	}
	for id := range seen {
		if have[id] != 1 {
			t.Errorf("%s: individual %s reported by the daemon is present %d times", when, id[:12], have[id])
		}
	}
	t.Logf("%s: %d reported, the store holds %d (%d alive, %d dead, %d training)", when, len(seen), len(v.IDs), v.Alive, v.Dead, v.Training)
}

func dfTrainedTotal(t *testing.T, repo string) uint64 {
	t.Helper()
	out, errOut, code := dfRun(t, time.Minute, "status", "--repo", repo, "--json")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	var st struct {
		TrainedTotal uint64 `json:"trained_total"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	return st.TrainedTotal
}
