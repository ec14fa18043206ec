package main

import (
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/internal/report"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/node"
	"github.com/evoswarm/evoswarm/store"
)

// decodePNG decodes the PNG at path and checks its size and that it is not
// blank (a figure has a background, axes, text, grey and coloured dots).
func decodePNG(t *testing.T, path string, wantW, wantH int) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != wantW || b.Dy() != wantH {
		t.Errorf("%s is %dx%d, want %dx%d", path, b.Dx(), b.Dy(), wantW, wantH)
	}
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(seen) < 5 {
		t.Errorf("%s has %d distinct colours, want at least 5 (is it blank?)", path, len(seen))
	}
	return img
}

// fillRepo records n individuals in a stopped repo's store, one a minute,
// fitness rising, the first half dead, every fourth an immigrant.
func fillRepo(t *testing.T, repo string, n int, tag byte) {
	t.Helper()
	st, err := store.Open(filepath.Join(repo, node.StoreDir), store.Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		ind := &store.Individual{ID: dna.ID{tag, byte(i + 1)}, Fitness: 0.1 + 0.8*float64(i)/float64(n),
			Born: start.Add(time.Duration(i) * time.Minute), Immigrant: i%4 == 3, Origin: "x"}
		err := st.Update(func(tx *store.Tx) error {
			if err := tx.Insert(ind, store.Seal([]byte("w"))); err != nil {
				return err
			}
			if i < n/2 {
				return tx.Kill(ind.ID, "lost", ind.Born.Add(time.Second))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestPlotTwoRepos(t *testing.T) {
	needFashion(t)
	a, b := initRepo(t, "smoke"), initRepo(t, "smoke")
	fillRepo(t, a, 30, 1)
	fillRepo(t, b, 20, 2)
	out := filepath.Join(t.TempDir(), "fig1.png")
	stdout, errOut, code := run(t, nil, "plot", "--repo", a, "--repo", b, "--out", out, "--width", "4in", "--height", "3in")
	if code != 0 {
		t.Fatalf("plot: exit %d: %s", code, errOut)
	}
	if !strings.Contains(stdout, out) {
		t.Errorf("plot printed %q, want the file name", stdout)
	}
	decodePNG(t, out, 4*96, 3*96)
}

func TestPlotErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{"plot", "--repo", dir}, `"out" not set`},
		{"bad format", []string{"plot", "--repo", dir, "--out", filepath.Join(dir, "f.bmp")}, "unknown image format"},
		{"bad width", []string{"plot", "--repo", dir, "--out", filepath.Join(dir, "f.png"), "--width", "wide"}, "--width"},
		{"not a repo", []string{"plot", "--repo", filepath.Join(dir, "none"), "--out", filepath.Join(dir, "f.png")}, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, nil, tc.args...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Errorf("evoswarm %s: exit %d, stderr %q; want a failure naming %q", strings.Join(tc.args, " "), code, errOut, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "f.png")); err == nil {
		t.Error("a failed plot left an image behind")
	}
}

func TestPlotEmptyRepo(t *testing.T) {
	needFashion(t)
	repo := initRepo(t, "smoke")
	_, errOut, code := run(t, nil, "plot", "--repo", repo, "--out", filepath.Join(t.TempDir(), "f.png"))
	if code == 0 || !strings.Contains(errOut, "nothing to plot") {
		t.Errorf("plot of an empty repo: exit %d, %q; want \"nothing to plot\"", code, errOut)
	}
}

// TestMetricsAndPlotAfterRun runs a daemon for a few children, scrapes
// its /metrics while it runs, and plots the run once it has stopped.
func TestMetricsAndPlotAfterRun(t *testing.T) {
	needFashion(t)
	if testing.Short() {
		t.Skip("trains a few children")
	}
	repo := initRepo(t, "smoke")
	d := startDaemon(t, repo, "--max-children", "3")
	defer d.cmd.Process.Kill()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + d.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s: %s", resp.Status, body)
	}
	for _, name := range []string{"evoswarm_build_info{", "evoswarm_individuals_trained_total ", "evoswarm_flops_total ",
		"evoswarm_peers ", "evoswarm_migrants_received_total ", "# TYPE evoswarm_training_seconds histogram"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("GET /metrics lacks %q; got:\n%s", name, body)
		}
	}
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon with --max-children 3: %v", err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("the daemon did not stop after 3 children within 3 minutes")
	}
	out := filepath.Join(t.TempDir(), "fig1.png")
	if _, errOut, code := run(t, nil, "plot", "--repo", repo, "--out", out); code != 0 {
		t.Fatalf("plot: exit %d: %s", code, errOut)
	}
	decodePNG(t, out, 8*96, 5*96)
}

// TestPlotDataMatchesHistory: the data behind the plot is the stored
// history, dot for dot: every individual born, its birth time, fitness,
// whether it is alive and whether it immigrated.
func TestPlotDataMatchesHistory(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	e, _ := node.Preset("smoke")
	if _, err := node.Init(repo, e); err != nil {
		t.Fatal(err)
	}
	fillRepo(t, repo, 12, 7)
	s, err := loadSeries(repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Dots) != 12 {
		t.Fatalf("%d dots, want the 12 stored individuals", len(s.Dots))
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	want := map[time.Time]report.Dot{}
	for i := range 12 {
		born := start.Add(time.Duration(i) * time.Minute)
		want[born] = report.Dot{Born: born, Fitness: 0.1 + 0.8*float64(i)/12, Alive: i >= 6, Immigrant: i%4 == 3}
	}
	for _, d := range s.Dots {
		w, ok := want[d.Born.UTC()]
		if !ok || w.Fitness != d.Fitness || w.Alive != d.Alive || w.Immigrant != d.Immigrant {
			t.Errorf("dot %+v does not match the stored individual %+v", d, w)
		}
		delete(want, d.Born.UTC())
	}
	if len(want) != 0 {
		t.Errorf("%d stored individuals have no dot", len(want))
	}
}
