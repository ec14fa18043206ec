package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/node"
)

// TestEventsVerb reads a real node's history through `evoswarm events`:
// from the running daemon's API, then from the stopped store, with the
// same events both ways, and refuses an unknown type.
func TestEventsVerb(t *testing.T) {
	needFashion(t)
	repo := initRepo(t, "smoke")
	d := startDaemon(t, repo)
	defer d.cmd.Process.Kill()
	deadline := time.Now().Add(2 * time.Minute)
	var st node.Status
	for {
		if err := d.get(t, "/api/v1/status", &st); err != nil {
			t.Fatal(err)
		}
		if st.TrainedTotal >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node trained %d individuals in 2 minutes", st.TrainedTotal)
		}
		time.Sleep(200 * time.Millisecond)
	}
	read := func(args ...string) []node.EventView {
		t.Helper()
		out, errOut, code := run(t, nil, append([]string{"events", "--repo", repo, "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("events %v: exit %d: %s", args, code, errOut)
		}
		var evs []node.EventView
		if err := json.Unmarshal([]byte(out), &evs); err != nil {
			t.Fatalf("events %v: %v\n%s", args, err, out)
		}
		return evs
	}
	live := read("--type", "birth", "--last", "3")
	if len(live) != 3 {
		t.Fatalf("from the daemon: %d births, want the last 3: %+v", len(live), live)
	}
	for i, e := range live {
		if e.Type != "birth" || len(e.ID) != 64 || (i > 0 && e.Seq <= live[i-1].Seq) {
			t.Errorf("from the daemon: event %d is %+v", i, e)
		}
	}
	// --follow: the last birth, then the new ones as they come, one JSON
	// object a line; it ends by itself when the daemon stops.
	follow := exec.Command(binary(t), "events", "--repo", repo, "--follow", "--json", "--type", "birth", "--last", "1", "--interval", "200ms")
	stdout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var followErr strings.Builder
	follow.Stderr = &followErr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer follow.Process.Kill()
	lines := make(chan node.EventView)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e node.EventView
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Errorf("--follow --json printed %q: %v", sc.Text(), err)
				return
			}
			lines <- e
		}
	}()
	var followed []node.EventView
	for timeout := time.After(2 * time.Minute); len(followed) < 2; {
		select {
		case e, ok := <-lines:
			if !ok {
				t.Fatalf("--follow ended after %d events: %s", len(followed), followErr.String())
			}
			followed = append(followed, e)
		case <-timeout:
			t.Fatalf("--follow printed %d events in 2 minutes of a training node, want the last birth and a new one", len(followed))
		}
	}
	if followed[0].Type != "birth" || followed[1].Type != "birth" || followed[1].Seq <= followed[0].Seq {
		t.Errorf("followed %+v: want births in increasing order", followed)
	}
	d.cmd.Process.Signal(os.Interrupt)
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	for range lines { // the rest, until --follow sees the daemon gone
	}
	if err := follow.Wait(); err != nil || !strings.Contains(followErr.String(), "daemon stopped") {
		t.Errorf("--follow after the daemon stopped: %v, stderr %q; want exit 0 saying so", err, followErr.String())
	}
	if _, errOut, code := run(t, nil, "events", "--repo", repo, "--follow"); code == 0 || !strings.Contains(errOut, "needs a running daemon") {
		t.Errorf("--follow on a stopped repo: exit %d, %q; want a refusal", code, errOut)
	}
	// The stopped store has the same events up to the last one read live.
	stopped := read("--last", "0")
	bySeq := map[uint64]node.EventView{}
	for _, e := range stopped {
		bySeq[e.Seq] = e
	}
	for _, e := range live {
		if got, ok := bySeq[e.Seq]; !ok || got.ID != e.ID || got.Type != e.Type || !got.Time.Equal(e.Time) || got.Fitness != e.Fitness {
			t.Errorf("event %d: from the daemon %+v, from the store %+v", e.Seq, e, got)
		}
	}
	if len(stopped) == 0 || stopped[0].Seq != 1 {
		t.Errorf("the whole history from the store starts at %+v", stopped)
	}
	// The training time is the store's: the stopped repo reports at least
	// what the daemon did, not zero.
	out, errOut, code := run(t, nil, "status", "--repo", repo, "--json")
	var after node.Status
	if code != 0 || json.Unmarshal([]byte(out), &after) != nil {
		t.Fatalf("status of the stopped repo: exit %d: %s %s", code, out, errOut)
	}
	if st.TrainingSeconds <= 0 || after.TrainingSeconds < st.TrainingSeconds || after.TrainedTotal < st.TrainedTotal {
		t.Errorf("training seconds: %v for %d trained from the daemon, %v for %d from the stopped repo; want more than 0, and no less after",
			st.TrainingSeconds, st.TrainedTotal, after.TrainingSeconds, after.TrainedTotal)
	}
	text, _, code := run(t, nil, "status", "--repo", repo)
	if want := fmt.Sprintf("%.2f worker-hours of training", after.TrainingSeconds/3600); code != 0 || !strings.Contains(text, want) {
		t.Errorf("status text: exit %d, want %q in\n%s", code, want, text)
	}
	out, _, code = run(t, nil, "events", "--repo", repo, "--after", "1", "--last", "1")
	if code != 0 || !strings.Contains(out, "seq") || strings.Count(strings.TrimSpace(out), "\n") != 1 {
		t.Errorf("text output of the last event: exit %d\n%s", code, out)
	}
	if _, errOut, code := run(t, nil, "events", "--repo", repo, "--type", "births"); code == 0 || !strings.Contains(errOut, `unknown event type "births"`) {
		t.Errorf("--type births: exit %d, %q; want a refusal naming it", code, errOut)
	}
}
