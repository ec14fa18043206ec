package store

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

// fakeFree makes the store see free bytes of free space until cleanup.
func fakeFree(t *testing.T, free *uint64) {
	old := freeBytes
	freeBytes = func(string) (uint64, error) { return *free, nil }
	t.Cleanup(func() { freeBytes = old })
}

func TestDiskFullRefusesWrites(t *testing.T) {
	free := uint64(1 << 40)
	fakeFree(t, &free)
	dir := t.TempDir()
	s, err := Open(dir, Options{MinFreeBytes: 100 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newInd(1, dna.ID{}, 0.5)
	insert(t, s, a)

	free = 50 << 20
	err = s.Update(func(tx *Tx) error { return tx.Insert(newInd(2, a.ID, 0.6), weightsOf(2, 1000)) })
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Insert on a full disk returned %v, want ErrDiskFull", err)
	}
	t.Logf("message: %v", err)
	// Reads still work, nothing was half written.
	if got, err := s.Get(a.ID); err != nil || got.Status != StatusAlive {
		t.Errorf("Get on a full disk = %v, %v", got, err)
	}
	if err := s.Update(func(tx *Tx) error { _, _, err := tx.Reserve(a.ID); return err }); err != nil {
		t.Errorf("a read-only Update on a full disk returned %v", err)
	}
	// Space just above the limit, but not for a 20 MiB blob.
	free = 120 << 20
	err = s.Update(func(tx *Tx) error { return tx.Insert(newInd(3, a.ID, 0.6), Seal(make([]byte, 20<<20))) })
	if !errors.Is(err, ErrDiskFull) {
		t.Errorf("a 20 MiB insert with 20 MiB above the limit returned %v, want ErrDiskFull", err)
	}
	free = 1 << 40
	insert(t, s, newInd(2, a.ID, 0.6))
	verify(t, s)
}

func TestIsDiskFull(t *testing.T) {
	for _, err := range []error{
		&os.PathError{Op: "write", Path: "/x/000001.vlog", Err: syscall.ENOSPC},
		fmt.Errorf("while syncing: %w", syscall.ENOSPC),
		errors.New("sync /x/MANIFEST: no space left on device"),
	} {
		if !isDiskFull(err) {
			t.Errorf("isDiskFull(%q) = false", err)
		}
		if w := wrapBadger("commit", err); !errors.Is(w, ErrDiskFull) {
			t.Errorf("wrapBadger(%q) = %v, want ErrDiskFull", err, w)
		}
	}
	if isDiskFull(errors.New("permission denied")) {
		t.Errorf("isDiskFull(permission denied) = true")
	}
}

// TestDiskFullTmpfs fills a real, small file system (a tmpfs, so it needs
// root) until the store refuses, then checks every acknowledged insert
// after a reopen.
func TestDiskFullTmpfs(t *testing.T) {
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	dir := filepath.Join(mnt, "store")
	opts := Options{MinFreeBytes: 200 << 20}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; n < 1000; n++ {
		err = s.Update(func(tx *Tx) error { return tx.Insert(newInd(n, dna.ID{}, 0.5), weightsOf(n, 1<<20)) })
		if err != nil {
			break
		}
	}
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("after %d inserts of 1 MiB on a 300 MiB tmpfs: %v, want ErrDiskFull", n, err)
	}
	t.Logf("%d inserts of 1 MiB, then: %v", n, err)
	if err := s.Close(); err != nil {
		t.Fatalf("Close on a full disk: %v", err)
	}
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatalf("reopen on a full disk: %v", err)
	}
	defer s.Close()
	verify(t, s)
	if c, _ := s.Counters(); c.Births != uint64(n) {
		t.Errorf("after reopen: %d births, want %d", c.Births, n)
	}
}

// TestExpectRefusesTheKill: a transaction that kills and expects a later
// write of a child's weights is refused, and kills nobody, where the disk
// has room for the kill but not for the child.
func TestExpectRefusesTheKill(t *testing.T) {
	free := uint64(1 << 40)
	fakeFree(t, &free)
	s, err := Open(t.TempDir(), Options{MinFreeBytes: 100 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b := newInd(1, dna.ID{}, 0.5), newInd(2, dna.ID{}, 0.4)
	insert(t, s, a)
	insert(t, s, b)
	tournament := func(child int64) error {
		return s.Update(func(tx *Tx) error {
			if _, _, err := tx.Reserve(a.ID); err != nil {
				return err
			}
			tx.Expect(child)
			return tx.Kill(b.ID, "lost", time.Now())
		})
	}
	free = 110 << 20 // room for the kill, not for a 20 MiB child twice over
	if err := tournament(20 << 20); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("a tournament expecting a 20 MiB child with 10 MiB above the limit: %v, want ErrDiskFull", err)
	}
	if got, err := s.Get(b.ID); err != nil || got.Status != StatusAlive {
		t.Fatalf("the loser after the refused tournament: %v, %v; want alive", got, err)
	}
	if err := tournament(1 << 20); err != nil {
		t.Fatalf("a tournament expecting a 1 MiB child with 10 MiB above the limit: %v", err)
	}
	if got, _ := s.Get(b.ID); got.Status == StatusAlive {
		t.Error("the loser is still alive after the tournament committed")
	}
}
