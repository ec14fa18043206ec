package main

import (
	"context"
	"github.com/evoswarm/evoswarm/train"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const chromiumPath = "/usr/bin/chromium"

// chromiumArgs are the flags for a headless Chromium that reaches nothing
// but 127.0.0.1: no background networking, no component updates, no QUIC,
// and every host name but 127.0.0.1 unresolvable.
func chromiumArgs(profile string) []string {
	return []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + profile,
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
	}
}

// TestDashboardInBrowser loads the dashboard of a running smoke daemon in
// headless Chromium and checks that its script ran and drew the API's data:
// the scatter has dots and the population table has rows.
func TestDashboardInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	needFashion(t)
	repo := initRepo(t, "smoke")
	d := startDaemon(t, repo)
	defer func() {
		d.cmd.Process.Signal(os.Interrupt)
		d.cmd.Wait()
	}()
	// Wait for the first individuals, so that there is something to draw.
	deadline := time.Now().Add(90 * time.Second)
	for {
		var list []struct {
			BirthSeq uint64 `json:"birth_seq"`
		}
		if err := d.get(t, "/api/v1/individuals", &list); err != nil {
			t.Fatal(err)
		}
		born := 0
		for _, s := range list {
			if s.BirthSeq > 0 {
				born++
			}
		}
		if born >= 5 { // the scatter is to show at least 5 points
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no individual was born in 90 s")
		}
		time.Sleep(300 * time.Millisecond)
	}

	dots := regexp.MustCompile(`<circle[^>]*class="dot `)
	rows := regexp.MustCompile(`<tr class="ind `)
	var dom string
	for attempt := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		args := append(chromiumArgs(t.TempDir()), "--virtual-time-budget=10000", "--dump-dom", "http://"+d.api+"/")
		out, err := exec.CommandContext(ctx, chromiumPath, args...).Output()
		cancel()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		dom = string(out)
		if len(dots.FindAllString(dom, -1)) >= 5 && len(rows.FindAllString(dom, -1)) > 0 {
			break
		}
		t.Logf("attempt %d: the page had not drawn yet", attempt)
		time.Sleep(2 * time.Second)
	}
	nd, nr := len(dots.FindAllString(dom, -1)), len(rows.FindAllString(dom, -1))
	t.Logf("rendered: %d dots in the scatter, %d table rows", nd, nr)
	if nd < 5 {
		t.Errorf("the scatter has %d dots, want at least 5", nd)
	}
	// The table lists the population the daemon reports: every row is an
	// individual the node holds, and there are as many rows as status
	// reported alive and training just before, give or take the children
	// born and the individuals killed while the page loaded.
	var st struct {
		Population int `json:"population"`
	}
	if err := d.get(t, "/api/v1/status", &st); err != nil {
		t.Fatal(err)
	}
	var all []struct {
		ID string `json:"id"`
	}
	if err := d.get(t, "/api/v1/individuals", &all); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, s := range all {
		known[s.ID] = true
	}
	rowIDs := regexp.MustCompile(`<tr class="ind [^"]*"[^>]*data-id="([0-9a-f]{64})"`).FindAllStringSubmatch(dom, -1)
	if len(rowIDs) != nr {
		t.Errorf("%d table rows but %d carry an individual's ID", nr, len(rowIDs))
	}
	for _, m := range rowIDs {
		if !known[m[1]] {
			t.Errorf("the table lists %s, which the node does not hold", m[1][:12])
		}
	}
	if nr < st.Population-2 || nr > st.Population+2 {
		t.Errorf("the table has %d rows; status reports a population of %d", nr, st.Population)
	}
	// A screenshot for people to look at when this test fails.
	shot := filepath.Join(os.TempDir(), "evoswarm-dashboard-test.png")
	sctx, scancel := context.WithTimeout(context.Background(), 90*time.Second)
	sargs := append(chromiumArgs(t.TempDir()), "--virtual-time-budget=8000", "--window-size=1400,2400", "--screenshot="+shot, "http://"+d.api+"/")
	if err := exec.CommandContext(sctx, chromiumPath, sargs...).Run(); err != nil {
		t.Errorf("screenshot: %v", err)
	} else {
		t.Logf("screenshot: %s", shot)
	}
	scancel()
	if nr == 0 {
		t.Errorf("the population table has no rows")
	}
	// The compute panel splits a child's time into its phases (the smoke
	// node had made a child before the page loaded: 5 births, population 4).
	for _, want := range []string{`class="pill ok"`, `class="bestline"`, `class="vbox `, `<dt>trains on</dt><dd>CPU, ` + train.CPUEngine(),
		`<dd class="phase-train">`, `<dd class="phase-emigrate">`, `class="phase train"`,
		`<dl id="problems" class="kv"><dt>`} { // the problems panel rendered: "none" or the latest events
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %s", want)
		}
	}
	if t.Failed() {
		if len(dom) > 4000 {
			dom = dom[:4000]
		}
		t.Logf("DOM:\n%s", dom)
	}
}
