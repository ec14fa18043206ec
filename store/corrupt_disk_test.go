package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

// corruptBase writes, through the store API, a store in dir like a node's
// after a short run: 24 births with sealed weights of 20-44 KiB (so in
// Badger's value log), every third birth killing an older individual, one
// child left in training; then it closes the store. It returns the weights
// of the alive individuals, and their IDs in birth order.
func corruptBase(t *testing.T, dir string) (map[dna.ID][]byte, []dna.ID) {
	t.Helper()
	s, err := Open(dir, Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(16, 3))
	alive := map[dna.ID][]byte{}
	for i := 1; i <= 24; i++ {
		ind := newInd(i, testID(i-1), float64(i)/100)
		body := make([]byte, 20<<10+rng.IntN(24<<10))
		for j := range body {
			body[j] = byte(rng.Uint32())
		}
		w := Seal(body)
		err := s.Update(func(tx *Tx) error {
			if i%3 == 0 {
				if err := tx.Kill(testID(i-2), "lost a tournament", t0.Add(time.Hour)); err != nil {
					return err
				}
			}
			return tx.Insert(ind, w)
		})
		if err != nil {
			t.Fatal(err)
		}
		alive[ind.ID] = w
		if i%3 == 0 {
			delete(alive, testID(i-2))
		}
	}
	if err := s.Update(func(tx *Tx) error { return tx.StartTraining(newInd(99, testID(24), 0)) }); err != nil {
		t.Fatal(err)
	}
	verify(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var order []dna.ID
	for i := 1; i <= 24; i++ {
		if _, ok := alive[testID(i)]; ok {
			order = append(order, testID(i))
		}
	}
	return alive, order
}

// copyDir copies the regular files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// onlyFile returns the one file in dir whose name ends with suffix.
func onlyFile(t *testing.T, dir, suffix string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if len(m) != 1 {
		t.Fatalf("want one *%s in %s, found %v", suffix, dir, m)
	}
	return m[0]
}

func flipAt(t *testing.T, path string, off func(size int) int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := off(len(b))
	b[i] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func cutTo(t *testing.T, path string, size func(int) int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(size(int(fi.Size())))); err != nil {
		t.Fatal(err)
	}
}

// outcome is what the store made of one kind of damage.
type outcome struct {
	openErr   error       // read-write Open, as the daemon does
	roErr     error       // read-only Open, as verify does
	verifyErr error       // Verify after the read-only Open
	served    map[int]int // after the read-write Open: weights returned intact (0), refused (1)
	roServed  map[int]int // the same after the read-only Open
	badReads  []string    // weights returned that differ from what was stored: must stay empty
	lines     int         // lines in the error verify would print
}

// readAll reads every originally alive individual's weights through
// Tx.Weights and through Reserve, and counts intact and refused ones; any
// other bytes returned are recorded as bad reads.
func readAll(s *Store, alive map[dna.ID][]byte, o *outcome, served map[int]int) {
	s.View(func(tx *Tx) error {
		for id, want := range alive {
			w, err := tx.Weights(id)
			_, rw, rerr := tx.Reserve(id)
			switch {
			case err == nil && bytes.Equal(w, want) && rerr == nil && bytes.Equal(rw, want):
				served[0]++
			case err != nil && rerr != nil:
				served[1]++
			default:
				o.badReads = append(o.badReads, fmt.Sprintf("%s: Weights %d bytes, %v; Reserve %d bytes, %v", id.Short(), len(w), err, len(rw), rerr))
			}
		}
		return nil
	})
}

func examine(t *testing.T, base string, alive map[dna.ID][]byte, damage func(t *testing.T, dir string)) outcome {
	t.Helper()
	o := outcome{served: map[int]int{}, roServed: map[int]int{}}
	// As verify does: read-only, on its own copy.
	ro := copyDir(t, base)
	damage(t, ro)
	if s, err := Open(ro, Options{ReadOnly: true, MinFreeBytes: -1}); err != nil {
		o.roErr = err
	} else {
		o.verifyErr = s.Verify()
		readAll(s, alive, &o, o.roServed)
		s.Close()
	}
	// As the daemon does: read-write, on another copy.
	rw := copyDir(t, base)
	damage(t, rw)
	if s, err := Open(rw, Options{MinFreeBytes: -1}); err != nil {
		o.openErr = err
	} else {
		readAll(s, alive, &o, o.served)
		s.Close()
	}
	switch {
	case o.roErr != nil:
		o.lines = strings.Count(o.roErr.Error(), "\n") + 1
	case o.verifyErr != nil:
		o.lines = strings.Count(o.verifyErr.Error(), "\n") + 1
	}
	return o
}

// TestCorruptStore damages a stopped store's Badger files (value log,
// table, MANIFEST, key registry, discard stats) and its stored weights,
// one kind of damage at a time on a fresh copy, and checks for each: the
// read-write Open (the daemon's) refuses with one line naming what is
// damaged, or opens with what is intact; verify's read-only Open and
// Verify report the damage in one line; and no read of weights ever
// returns bytes other than those stored. Run with -v for the table in
// docs/hardening.md.
func TestCorruptStore(t *testing.T) {
	base := t.TempDir()
	alive, order := corruptBase(t, base)
	// The victim is the oldest alive individual: its weights lie early in
	// the value log, before most others'.
	victim := order[0]
	// Where the victim's weights lie in the value log.
	vlogAt := func(t *testing.T, dir string) int {
		b, err := os.ReadFile(onlyFile(t, dir, vlogExt))
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, alive[victim][:64])
		if i < 0 {
			t.Fatal("the victim's weights are not in the value log")
		}
		return i
	}
	const (
		refused  = "refused"  // both Opens fail, with ErrCorrupt, in one line
		reported = "reported" // the store opens; Verify reports it in one line; damaged weights are refused
		clean    = "harmless" // the store opens, verifies and serves every weight intact
	)
	for _, tc := range []struct {
		file, damage string
		do           func(t *testing.T, dir string)
		want         string
	}{
		{"value log", "one byte flipped inside an individual's weights", func(t *testing.T, dir string) {
			at := vlogAt(t, dir)
			flipAt(t, onlyFile(t, dir, vlogExt), func(int) int { return at + 1000 })
		}, refused},
		{"value log", "one byte flipped inside an individual's weights in an older file (after a restart)", func(t *testing.T, dir string) {
			at := vlogAt(t, dir)
			old := onlyFile(t, dir, vlogExt)
			s, err := Open(dir, Options{MinFreeBytes: -1}) // starts a new value-log file
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			flipAt(t, old, func(int) int { return at + 1000 })
		}, reported},
		{"value log", "one byte flipped in the entry header before an individual's weights", func(t *testing.T, dir string) {
			at := vlogAt(t, dir)
			flipAt(t, onlyFile(t, dir, vlogExt), func(int) int { return at - len("w/") - len(dna.ID{}) - 3 })
		}, refused},
		{"value log", "one byte flipped in its header", func(t *testing.T, dir string) {
			flipAt(t, onlyFile(t, dir, vlogExt), func(int) int { return 5 })
		}, refused},
		{"value log", "cut to half its length", func(t *testing.T, dir string) {
			cutTo(t, onlyFile(t, dir, vlogExt), func(n int) int { return n / 2 })
		}, refused},
		{"value log", "cut to 10 bytes", func(t *testing.T, dir string) {
			cutTo(t, onlyFile(t, dir, vlogExt), func(int) int { return 10 })
		}, refused},
		{"value log", "deleted", func(t *testing.T, dir string) {
			os.Remove(onlyFile(t, dir, vlogExt))
		}, refused},
		{"table (.sst)", "one byte flipped near the start (a data block)", func(t *testing.T, dir string) {
			flipAt(t, onlyFile(t, dir, tableExt), func(int) int { return 100 })
		}, refused},
		{"table (.sst)", "one byte flipped in the middle", func(t *testing.T, dir string) {
			flipAt(t, onlyFile(t, dir, tableExt), func(n int) int { return n / 2 })
		}, refused},
		{"table (.sst)", "one byte flipped in its last bytes (index and checksum)", func(t *testing.T, dir string) {
			flipAt(t, onlyFile(t, dir, tableExt), func(n int) int { return n - 3 })
		}, refused},
		{"table (.sst)", "cut to half its length", func(t *testing.T, dir string) {
			cutTo(t, onlyFile(t, dir, tableExt), func(n int) int { return n / 2 })
		}, refused},
		{"table (.sst)", "emptied", func(t *testing.T, dir string) {
			cutTo(t, onlyFile(t, dir, tableExt), func(int) int { return 0 })
		}, refused},
		{"table (.sst)", "deleted", func(t *testing.T, dir string) {
			os.Remove(onlyFile(t, dir, tableExt))
		}, refused},
		{"MANIFEST", "one byte flipped in its magic", func(t *testing.T, dir string) {
			flipAt(t, filepath.Join(dir, manifestFile), func(int) int { return 2 })
		}, refused},
		{"MANIFEST", "one byte flipped in a record", func(t *testing.T, dir string) {
			flipAt(t, filepath.Join(dir, manifestFile), func(n int) int { return n - 2 })
		}, refused},
		{"MANIFEST", "cut to its 8-byte magic", func(t *testing.T, dir string) {
			cutTo(t, filepath.Join(dir, manifestFile), func(int) int { return 8 })
		}, refused},
		{"MANIFEST", "last 3 bytes cut off", func(t *testing.T, dir string) {
			cutTo(t, filepath.Join(dir, manifestFile), func(n int) int { return n - 3 })
		}, refused},
		{"MANIFEST", "emptied", func(t *testing.T, dir string) {
			cutTo(t, filepath.Join(dir, manifestFile), func(int) int { return 0 })
		}, refused},
		{"MANIFEST", "deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, manifestFile))
		}, refused},
		{"KEYREGISTRY", "one byte flipped", func(t *testing.T, dir string) {
			flipAt(t, filepath.Join(dir, "KEYREGISTRY"), func(n int) int { return n - 4 })
		}, refused},
		{"KEYREGISTRY", "deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "KEYREGISTRY"))
		}, clean},
		{"DISCARD", "first bytes flipped", func(t *testing.T, dir string) {
			for i := range 4 {
				flipAt(t, filepath.Join(dir, "DISCARD"), func(int) int { return i })
			}
		}, clean},
		{"DISCARD", "deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "DISCARD"))
		}, clean},
		{"stored weights", "one byte changed inside Badger (its own checks pass)", func(t *testing.T, dir string) {
			s, err := Open(dir, Options{MinFreeBytes: -1})
			if err != nil {
				t.Fatal(err)
			}
			w := bytes.Clone(alive[victim])
			w[len(w)/2] ^= 1
			rawSet(t, s, idKey(prefixWeights, victim), w)
			s.Close()
		}, reported},
		{"stored weights", "cut short inside Badger", func(t *testing.T, dir string) {
			s, err := Open(dir, Options{MinFreeBytes: -1})
			if err != nil {
				t.Fatal(err)
			}
			rawSet(t, s, idKey(prefixWeights, victim), alive[victim][:100])
			s.Close()
		}, reported},
	} {
		t.Run(tc.file+"/"+tc.damage, func(t *testing.T) {
			o := examine(t, base, alive, tc.do)
			if len(o.badReads) > 0 {
				t.Errorf("weights other than those stored were returned: %s", strings.Join(o.badReads, "; "))
			}
			if o.lines > 1 {
				t.Errorf("verify would print %d lines for one damage, want 1: %v%v", o.lines, o.roErr, o.verifyErr)
			}
			got := ""
			switch {
			case o.openErr != nil && o.roErr != nil:
				got = refused
				for _, err := range []error{o.openErr, o.roErr} {
					if !errors.Is(err, ErrCorrupt) || strings.Contains(err.Error(), "\n") {
						t.Errorf("Open: %q; want one line wrapping ErrCorrupt", err)
					}
				}
			case o.openErr == nil && o.roErr == nil && o.verifyErr == nil && o.served[1] == 0 && o.roServed[1] == 0:
				got = clean
			case o.openErr == nil && o.roErr == nil && o.verifyErr != nil && (o.served[1] > 0 || o.roServed[1] > 0):
				got = reported
				if !errors.Is(o.verifyErr, ErrCorrupt) {
					t.Errorf("Verify: %v, want ErrCorrupt", o.verifyErr)
				}
			default:
				t.Errorf("inconsistent outcome: read-write Open %v; read-only Open %v; Verify %v; served %v / %v",
					o.openErr, o.roErr, o.verifyErr, o.served, o.roServed)
			}
			if got != tc.want {
				t.Errorf("outcome %q, want %q (open %v; verify %v%v)", got, tc.want, o.openErr, o.roErr, o.verifyErr)
			}
			msg := "-"
			switch {
			case o.openErr != nil:
				msg = o.openErr.Error()
			case o.verifyErr != nil:
				msg = o.verifyErr.Error()
			}
			msg = strings.ReplaceAll(msg, base, "DIR")
			t.Logf("| %s | %s | %s | %d intact, %d refused | %d intact, %d refused | %s |",
				tc.file, tc.damage, got, o.served[0], o.served[1], o.roServed[0], o.roServed[1], msg)
		})
	}
}

// TestWeightsChecksumOnEveryRead checks that a weights blob that fails its
// checksum is refused by Insert, and by every read: Weights, Reserve (a
// tournament's parent, an emigrant) and Verify; and that a Reserve that
// fails leaves the transaction's kill undone.
func TestWeightsChecksumOnEveryRead(t *testing.T) {
	s := openMem(t)
	a, b := newInd(1, dna.ID{}, 0.9), newInd(2, dna.ID{}, 0.1)
	insert(t, s, a, b)
	if err := s.Update(func(tx *Tx) error {
		return tx.Insert(newInd(3, dna.ID{}, 0.5), []byte("no checksum at all, not even 32 bytes"))
	}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Insert of unsealed weights: %v, want ErrInvalid", err)
	}
	w := weightsOf(int(a.Params), 64)
	w[3] ^= 0x10
	rawSet(t, s, idKey(prefixWeights, a.ID), w)
	err := s.View(func(tx *Tx) error { _, err := tx.Weights(a.ID); return err })
	if !errors.Is(err, ErrBadWeights) || !errors.Is(err, ErrCorrupt) {
		t.Errorf("Weights: %v, want ErrBadWeights", err)
	}
	err = s.Update(func(tx *Tx) error {
		if err := tx.Kill(b.ID, "lost a tournament", t0); err != nil {
			return err
		}
		_, _, err := tx.Reserve(a.ID)
		return err
	})
	if !errors.Is(err, ErrBadWeights) {
		t.Errorf("Reserve: %v, want ErrBadWeights", err)
	}
	if got, _ := s.Get(b.ID); got.Status != StatusAlive {
		t.Errorf("the rival is %v after a tournament whose parent's weights were refused", got.Status)
	}
	err = s.Verify()
	if !errors.Is(err, ErrCorrupt) || strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), a.ID.Short()) {
		t.Errorf("Verify: %q; want one line naming %s", err, a.ID.Short())
	}
}
