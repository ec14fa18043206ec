package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/node"
	"github.com/evoswarm/evoswarm/store"
)

// copyTree copies a repo (regular files, recursively) into a new directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil // the lock file's directory handle, sockets
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(to, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// flipIn flips one byte of path at the offset off returns.
func flipIn(t *testing.T, path string, off func(b []byte) int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off(b)] ^= 0x08
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// oneProblem runs verify on repo and checks that it fails and names the
// damage in exactly one line of output containing want.
func oneProblem(t *testing.T, repo, want string) {
	t.Helper()
	out, errOut, code := run(t, nil, "verify", "--repo", repo)
	var problems []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" && !strings.Contains(l, " individuals: ") {
			problems = append(problems, l)
		}
	}
	if code != 1 || len(problems) != 1 || !strings.Contains(problems[0], want) {
		t.Errorf("verify: exit %d, problems %q (stderr %q); want exit 1 and one line naming %q", code, problems, errOut, want)
	}
}

// TestCorruptRepo runs a smoke node for a few children, stops it, and on
// copies of its repo damages Badger's files and the stored weights. For
// each: verify reports it in one line and exits 1; the daemon refuses to
// start, in one line, when Badger's files are damaged, and starts with
// what is intact when only some weights are (it never breeds from them);
// export refuses damaged weights.
func TestCorruptRepo(t *testing.T) {
	needFashion(t)
	if testing.Short() {
		t.Skip("runs daemons")
	}
	repo := initRepo(t, "smoke")
	if out, errOut, code := run(t, nil, "daemon", "--repo", repo, "--max-children", "6", "--log-level", "warn"); code != 0 {
		t.Fatalf("daemon: exit %d: %s %s", code, out, errOut)
	}
	if out, errOut, code := run(t, nil, "verify", "--repo", repo); code != 0 {
		t.Fatalf("verify of the intact repo: exit %d: %s %s", code, out, errOut)
	}
	db := func(r string) string { return filepath.Join(r, node.StoreDir) }
	newestVlog := func(r string) string {
		m, _ := filepath.Glob(filepath.Join(db(r), "*.vlog"))
		slices.Sort(m)
		return m[len(m)-1]
	}
	sst := func(r string) string {
		m, _ := filepath.Glob(filepath.Join(db(r), "*.sst"))
		if len(m) == 0 {
			t.Fatal("no table")
		}
		return m[0]
	}
	refuse := func(r, want string) {
		t.Helper()
		oneProblem(t, r, want)
		_, errOut, code := run(t, nil, "daemon", "--repo", r, "--max-children", "1", "--log-level", "error")
		if code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, want) {
			t.Errorf("daemon on a damaged store: exit %d, stderr %q; want a one-line refusal naming %q", code, errOut, want)
		}
	}
	t.Run("value log", func(t *testing.T) {
		r := copyTree(t, repo)
		flipIn(t, newestVlog(r), func(b []byte) int { return len(b) / 3 })
		refuse(r, "value log")
	})
	t.Run("table", func(t *testing.T) {
		r := copyTree(t, repo)
		flipIn(t, sst(r), func(b []byte) int { return len(b) / 2 })
		refuse(r, ".sst is damaged")
	})
	t.Run("MANIFEST", func(t *testing.T) {
		r := copyTree(t, repo)
		os.Remove(filepath.Join(db(r), "MANIFEST"))
		refuse(r, "MANIFEST is missing")
	})
	t.Run("weights", func(t *testing.T) {
		r := copyTree(t, repo)
		// A smoke run's networks are small, so their weights live in
		// Badger's tables, where a damaged byte fails the table's checksum
		// (the cases above). Give the population a best individual with
		// weights large enough for the value log, through the store API;
		// then start a new value-log file, so that the damage lies in an
		// older one, where Badger does not look at open: only the
		// weights' own checksum can find it.
		st, err := store.Open(db(r), store.Options{MinFreeBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		g := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, dna.PaperLearningRate)
		g.Nonce = 0xdead
		gb, _ := g.MarshalBinary()
		body := make([]byte, 64<<10)
		for i := range body {
			body[i] = byte(i*7 + i/251)
		}
		w := store.Seal(body)
		best := store.Member{ID: g.ID(), Fitness: 0.99}
		ind := &store.Individual{ID: g.ID(), Genome: gb, Fitness: 0.99, Born: time.Now(), Origin: "test", Params: g.Params()}
		if err := st.Update(func(tx *store.Tx) error { return tx.Insert(ind, w) }); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if st, err = store.Open(db(r), store.Options{MinFreeBytes: -1}); err != nil {
			t.Fatal(err)
		}
		st.Close()
		vlogs, _ := filepath.Glob(filepath.Join(db(r), "*.vlog"))
		found := false
		for _, v := range vlogs {
			b, _ := os.ReadFile(v)
			if at := bytes.Index(b, w[:64]); at >= 0 && v != newestVlog(r) {
				flipIn(t, v, func([]byte) int { return at + len(w)/2 })
				found = true
			}
		}
		if !found {
			t.Fatal("the injected individual's weights are not in an older value-log file")
		}
		oneProblem(t, r, best.ID.Short())
		out, errOut, code := run(t, nil, "export", "--repo", r, "--out", filepath.Join(t.TempDir(), "models"), "--top", "10")
		if code == 0 || !strings.Contains(errOut, "weights fail their checksum") {
			t.Errorf("export of damaged weights: exit %d: %s %s; want a refusal", code, out, errOut)
		}
		// The daemon starts with what is intact and breeds on; no child
		// born now has the damaged individual as its parent.
		before := map[string]bool{}
		if out, _, _ := run(t, nil, "verify", "--repo", r, "--json"); true {
			var v node.Verification
			json.Unmarshal([]byte(out), &v)
			for _, id := range v.IDs {
				before[id] = true
			}
		}
		if out, errOut, code := run(t, nil, "daemon", "--repo", r, "--max-children", "6", "--log-level", "error"); code != 0 {
			t.Fatalf("daemon with one damaged individual: exit %d: %s %s", code, out, errOut)
		}
		out, errOut, code = run(t, nil, "status", "--repo", r, "--json")
		if code != 0 {
			t.Fatalf("status: %s %s", out, errOut)
		}
		st, err = store.Open(db(r), store.Options{ReadOnly: true, MinFreeBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		born := 0
		err = st.View(func(tx *store.Tx) error {
			return tx.Individuals(func(ind *store.Individual) error {
				if before[ind.ID.String()] {
					return nil
				}
				born++
				if ind.Parent == best.ID {
					t.Errorf("%s was bred from %s, whose weights are damaged", ind.ID.Short(), best.ID.Short())
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if born == 0 {
			t.Error("the daemon bred nothing from what was intact")
		}
		if rec, err := st.Get(best.ID); err == nil && rec.Status == store.StatusDead {
			t.Logf("the damaged individual: dead, %q", rec.DeathReason)
		} else if err == nil {
			t.Logf("the damaged individual: %v (not drawn)", rec.Status)
		}
	})
}
