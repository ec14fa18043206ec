package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

// vlogBytes is the size of the value-log files in dir.
func vlogBytes(t *testing.T, dir string) (n int64, files int) {
	t.Helper()
	ms, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	for _, m := range ms {
		fi, err := os.Stat(m)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n, len(ms)
}

func TestGCReclaimsWeightsOfTheDead(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MinFreeBytes: -1, valueLogFileSize: 1 << 20}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var ids []dna.ID
	for i := range n {
		ind := newInd(i, dna.ID{}, float64(i)/n)
		if err := s.Update(func(tx *Tx) error { return tx.Insert(ind, weightsOf(i, 200<<10)) }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ind.ID)
	}
	err = s.Update(func(tx *Tx) error {
		for _, id := range ids[:n-2] {
			if err := tx.Kill(id, "gc test", t0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before, files := vlogBytes(t, dir)
	if err := s.GC(); err != nil {
		t.Fatalf("GC: %v", err)
	}
	after, filesAfter := vlogBytes(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("value log: %d files, %d KiB before GC; %d files, %d KiB after", files, before>>10, filesAfter, after>>10)
	if filesAfter >= files {
		t.Errorf("GC removed no value-log file (%d before, %d after)", files, filesAfter)
	}
	verify(t, s)
	for _, id := range ids[n-2:] {
		if _, _, err := reserve(s, id); err != nil {
			t.Errorf("weights of a survivor after GC: %v", err)
		}
	}
}

func reserve(s *Store, id dna.ID) (ind *Individual, w []byte, err error) {
	err = s.View(func(tx *Tx) error {
		ind, w, err = tx.Reserve(id)
		return err
	})
	return ind, w, err
}

func TestStartClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{MinFreeBytes: -1, GCInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Errorf("second Start returned no error")
	}
	insert(t, s, newInd(1, dna.ID{}, 0.5))
	time.Sleep(20 * time.Millisecond) // let a few GC rounds run
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
	if err := s.GC(); !errors.Is(err, ErrClosed) {
		t.Errorf("GC after Close: %v, want ErrClosed", err)
	}
	m := openMem(t)
	if err := m.GC(); err != nil {
		t.Errorf("GC of an in-memory store: %v, want nil", err)
	}
}

// TestValueLogHoldsTheLargestWeights: Badger refuses a value larger than
// one value-log file, so a store told the largest weights it must take
// (MaxValueBytes) makes its files large enough, and such weights go in,
// survive a reopen and pass their checksum. Here with 1 MiB files and a
// 3 MiB blob, standing for the default 64 MiB files and the paper
// preset's 50M-parameter bound (400 MB).
func TestValueLogHoldsTheLargestWeights(t *testing.T) {
	const size = 3 << 20
	small := Options{MinFreeBytes: -1, valueLogFileSize: 1 << 20}
	s, err := Open(t.TempDir(), small)
	if err != nil {
		t.Fatal(err)
	}
	ind := newInd(1, dna.ID{}, 0.5)
	err = s.Update(func(tx *Tx) error { return tx.Insert(ind, weightsOf(1, size)) })
	s.Close()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "MaxValueBytes") || len(err.Error()) > 200 {
		t.Fatalf("a 3 MiB value into 1 MiB value-log files: %.300v; want a short ErrInvalid naming MaxValueBytes", err)
	}
	t.Logf("without MaxValueBytes: %v", err)

	dir := t.TempDir()
	large := small
	large.MaxValueBytes = size
	if s, err = Open(dir, large); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx *Tx) error { return tx.Insert(ind, weightsOf(1, size)) }); err != nil {
		t.Fatalf("with MaxValueBytes %d: %v", large.MaxValueBytes, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, large); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, w, err := reserve(s, ind.ID); err != nil || len(w) < size {
		t.Fatalf("after a reopen: %d bytes, %v", len(w), err)
	}
	verify(t, s)

	if err := (Options{MaxValueBytes: MaxMaxValueBytes + 1}).Validate(); err == nil {
		t.Error("Validate took a MaxValueBytes that needs value-log files of 2 GiB")
	}
	if got := (Options{MaxValueBytes: MaxMaxValueBytes}).vlogFileSize(); got >= 2<<30 || got < MaxMaxValueBytes {
		t.Errorf("the largest MaxValueBytes gives value-log files of %d bytes, want under 2 GiB and above the value", got)
	}
}

// TestCompactStore: a compact store (Options.Compact) writes value-log
// files of 16 MiB, not 64, so the file being written holds at most that
// much of the process's memory; its weights survive a reopen; files grow
// again for weights that need more (MaxValueBytes); an in-memory store
// keeps its full-size memtables, which hold its weights.
func TestCompactStore(t *testing.T) {
	const size, n = 1 << 20, 40 // 40 MiB of weights: three files
	dir := t.TempDir()
	// A store written with full-size files first (a repo from before the
	// option), then opened compact: the same files serve both.
	s, err := Open(dir, Options{MinFreeBytes: -1, MaxValueBytes: size})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx *Tx) error { return tx.Insert(newInd(n+1, dna.ID{}, 0.5), weightsOf(n+1, size)) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	opts := Options{MinFreeBytes: -1, Compact: true, MaxValueBytes: size}
	if s, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := s.Update(func(tx *Tx) error { return tx.Insert(newInd(i, dna.ID{}, 0.5), weightsOf(i, size)) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ms, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if len(ms) < 3 {
		t.Errorf("%d MiB of weights went into %d value-log files; want at least 3 of 16 MiB", n*size>>20, len(ms))
	}
	for _, m := range ms {
		// Badger closes a file once a write has taken it past the size.
		if fi, err := os.Stat(m); err != nil || fi.Size() > compactValueLogFileSize+size+valueLogSlack {
			t.Errorf("%s: %v bytes (%v), want at most 16 MiB and one value", m, fi.Size(), err)
		}
	}
	if s, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 1; i <= n+1; i++ {
		if _, w, err := reserve(s, testID(i)); err != nil || !bytes.Equal(w, weightsOf(i, size)) {
			t.Fatalf("individual %d after a reopen: %d bytes, %v", i, len(w), err)
		}
	}

	if got := (Options{Compact: true, MaxValueBytes: 40 << 20}).vlogFileSize(); got < 40<<20 {
		t.Errorf("a compact store for 40 MiB weights has files of %d bytes", got)
	}
	full, compact := Options{}.badgerOptions(""), opts.badgerOptions("")
	if compact.MemTableSize != full.MemTableSize/2 || compact.BlockCacheSize != full.BlockCacheSize/2 {
		t.Errorf("compact memtables %d, block cache %d; want half of %d, %d",
			compact.MemTableSize, compact.BlockCacheSize, full.MemTableSize, full.BlockCacheSize)
	}
	if mem := (Options{Compact: true, InMemory: true}).badgerOptions(""); mem.MemTableSize != full.MemTableSize {
		t.Errorf("an in-memory compact store has memtables of %d bytes, want %d", mem.MemTableSize, full.MemTableSize)
	}
}
