package main

import (
	"context"
	"os"
	"os/exec"
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
		if born > 0 {
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
		if len(dots.FindAllString(dom, -1)) > 0 && len(rows.FindAllString(dom, -1)) > 0 {
			break
		}
		t.Logf("attempt %d: the page had not drawn yet", attempt)
		time.Sleep(2 * time.Second)
	}
	nd, nr := len(dots.FindAllString(dom, -1)), len(rows.FindAllString(dom, -1))
	t.Logf("rendered: %d dots in the scatter, %d table rows", nd, nr)
	if nd == 0 {
		t.Errorf("the scatter has no dots")
	}
	if nr == 0 {
		t.Errorf("the population table has no rows")
	}
	for _, want := range []string{`class="pill ok"`, `class="bestline"`, `class="vbox `} {
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
