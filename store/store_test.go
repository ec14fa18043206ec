package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/evoswarm/evoswarm/island/dna"
)

// t0 is the birth time of test individuals.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testID returns a distinct ID for each n.
func testID(n int) dna.ID {
	return dna.ID(sha256.Sum256(binary.BigEndian.AppendUint64([]byte("test"), uint64(n))))
}

// newInd returns an individual numbered n, child of parent.
func newInd(n int, parent dna.ID, fitness float64) *Individual {
	return &Individual{
		ID:         testID(n),
		Genome:     []byte(fmt.Sprintf("genome %d", n)),
		Fitness:    fitness,
		Born:       t0.Add(time.Duration(n) * time.Second),
		Parent:     parent,
		Mutation:   "insert-convolution",
		Origin:     "12D3KooWtest",
		Params:     int64(1000 + n),
		TrainFLOPs: 1e9,
		EvalFLOPs:  1e8,
		Steps:      300,
	}
}

// weightsOf returns a deterministic weights blob of size bytes (at least
// 32) for n, sealed as the store wants: its last 32 bytes are the SHA-256
// of the rest.
func weightsOf(n, size int) []byte {
	w := make([]byte, size-sha256.Size)
	for i := range w {
		w[i] = byte(n + i)
	}
	return Seal(w)
}

// openDisk opens a store in a fresh temporary directory, closed at cleanup.
func openDisk(t testing.TB) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatalf("Open(%q) returned error %q", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// openMem opens an in-memory store, closed at cleanup.
func openMem(t testing.TB) *Store {
	t.Helper()
	s, err := Open("mem", Options{InMemory: true})
	if err != nil {
		t.Fatalf("Open(in memory) returned error %q", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// insert inserts individuals with weights in one transaction.
func insert(t testing.TB, s *Store, inds ...*Individual) {
	t.Helper()
	err := s.Update(func(tx *Tx) error {
		for _, ind := range inds {
			if err := tx.Insert(ind, weightsOf(int(ind.Params), 64)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Insert returned error %q", err)
	}
}

// verify fails the test if the store is inconsistent.
func verify(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestOpenLockedDirectory(t *testing.T) {
	_, dir := openDisk(t)
	s2, err := Open(dir, Options{})
	if err == nil {
		s2.Close()
		t.Fatalf("second Open(%q) returned no error, want ErrLocked", dir)
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("second Open error %q does not match ErrLocked", err)
	}
	if want := "another evoswarm process is using " + dir; err.Error() != want {
		t.Errorf("second Open error = %q, want %q", err, want)
	}
}

// TestOpenLockedWhileItsFilesChange: files that look damaged to a second
// opener (here a MANIFEST caught mid-append) are not called damaged while another process holds the
// repo: the second opener is told it is in use.
func TestOpenLockedWhileItsFilesChange(t *testing.T) {
	s, dir := openDisk(t)
	if !lockedByOther(dir) {
		t.Fatal("lockedByOther: false for a store this test holds open")
	}
	f, err := os.OpenFile(filepath.Join(dir, "MANIFEST"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half a change")) // as a reader may catch it mid-write
	f.Close()
	s2, err := Open(dir, Options{})
	if err == nil {
		s2.Close()
		t.Fatal("second Open returned no error")
	}
	if !errors.Is(err, ErrLocked) || errors.Is(err, ErrDamagedFiles) {
		t.Errorf("second Open while the files change: %v; want ErrLocked, not ErrDamagedFiles", err)
	}
	s.Close()
	if lockedByOther(dir) {
		t.Error("lockedByOther: true after the store closed")
	}
}

func TestOpenSchemaMismatch(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		return txn.Set(keySchema, binary.BigEndian.AppendUint32(nil, 7))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, err = Open(dir, Options{MinFreeBytes: -1})
	if !errors.Is(err, ErrSchema) {
		t.Fatalf("Open of a schema-7 repo returned %v, want ErrSchema", err)
	}
	want := dir + " has schema version 7, this build reads 1: use a matching evoswarm release or start a new repo"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Open error = %q, want it to contain %q", err, want)
	}
	// The failed Open released the directory.
	s, err := Open(dir, Options{MinFreeBytes: -1})
	if err == nil {
		s.Close()
	}
	if errors.Is(err, ErrLocked) {
		t.Errorf("Open after a schema error: %q: the failed Open kept the lock", err)
	}
}

func TestOpenForeignDatabase(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("x"), []byte("y")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(dir, Options{MinFreeBytes: -1}); !errors.Is(err, ErrSchema) {
		t.Fatalf("Open of a foreign badger database returned %v, want ErrSchema", err)
	}
}

func TestOpenInvalidOptions(t *testing.T) {
	for _, o := range []Options{{GCDiscardRatio: 1.5, InMemory: true}, {GCInterval: -time.Second, InMemory: true}} {
		if s, err := Open("x", o); err == nil {
			s.Close()
			t.Errorf("Open with %+v returned no error", o)
		}
	}
	if _, err := Open("", Options{}); err == nil {
		t.Errorf(`Open("") returned no error`)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	a, b := newInd(1, dna.ID{}, 0.2), newInd(2, testID(1), 0.3)
	insert(t, s, a, b)
	err = s.Update(func(tx *Tx) error {
		if err := tx.SetConfig([]byte(`{"population":20}`)); err != nil {
			return err
		}
		if err := tx.SetSeed(42); err != nil {
			return err
		}
		return tx.Kill(a.ID, "lost to b", t0.Add(time.Hour))
	})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.Counters()
	if err := s.Close(); err != nil {
		t.Fatalf("Close returned %q", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close returned %q, want nil", err)
	}
	if _, err := s.Get(a.ID); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close returned %v, want ErrClosed", err)
	}

	s, err = Open(dir, Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	verify(t, s)
	after, _ := s.Counters()
	if after != before {
		t.Errorf("counters after reopen = %+v, want %+v", after, before)
	}
	err = s.View(func(tx *Tx) error {
		cfg, err := tx.Config()
		if err != nil || string(cfg) != `{"population":20}` {
			t.Errorf("Config() = %q, %v", cfg, err)
		}
		if seed, err := tx.Seed(); err != nil || seed != 42 {
			t.Errorf("Seed() = %d, %v; want 42", seed, err)
		}
		got, err := tx.Get(b.ID)
		if err != nil {
			return err
		}
		if got.Status != StatusAlive || got.Fitness != 0.3 || got.Parent != a.ID || !got.Born.Equal(b.Born) {
			t.Errorf("Get(b) after reopen = %+v", got)
		}
		w, err := tx.Weights(b.ID)
		if err != nil || !bytes.Equal(w, weightsOf(int(b.Params), 64)) {
			t.Errorf("Weights(b) after reopen = %d bytes, %v", len(w), err)
		}
		dead, err := tx.Get(a.ID)
		if err != nil || dead.Status != StatusDead {
			t.Errorf("Get(a) after reopen = %+v, %v; want dead", dead, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSeedCannotChange(t *testing.T) {
	s := openMem(t)
	set := func(seed uint64) error { return s.Update(func(tx *Tx) error { return tx.SetSeed(seed) }) }
	if err := s.View(func(tx *Tx) error { _, err := tx.Seed(); return err }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Seed of a new store: %v, want ErrNotFound", err)
	}
	if err := set(7); err != nil {
		t.Fatal(err)
	}
	if err := set(7); err != nil {
		t.Errorf("setting the same seed again: %v", err)
	}
	if err := set(8); !errors.Is(err, ErrExists) {
		t.Errorf("changing the seed: %v, want ErrExists", err)
	}
}

func TestViewRefusesWrites(t *testing.T) {
	s := openMem(t)
	err := s.View(func(tx *Tx) error { return tx.Insert(newInd(1, dna.ID{}, 0.1), nil) })
	if err == nil || !strings.Contains(err.Error(), "View") {
		t.Errorf("Insert in a View returned %v, want an error naming View", err)
	}
}
