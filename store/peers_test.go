package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Saved bans and replay marks round-trip through a store on disk and a
// reopen, those past their until are never returned, a ban replaces the
// earlier one of its peer, many marks are written in several
// transactions, and Verify reads the entries: clean when they decode, one
// line each when they do not.
func TestSavePeers(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	bans := []PeerBan{
		{Peer: "peer-a", Until: now.Add(time.Hour), Reason: "flooding"},
		{Peer: "peer-b", Until: now.Add(-time.Second), Reason: "expired"},
	}
	var marks []ReplayMark
	for i := range 5000 { // more than one transaction's worth
		marks = append(marks, ReplayMark{Key: [32]byte{byte(i), byte(i >> 8), 1}, Until: now.Add(20 * time.Minute)})
	}
	marks = append(marks, ReplayMark{Key: [32]byte{0xff}, Until: now.Add(-time.Minute)})
	if err := s.SavePeers(bans, marks, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SavePeers([]PeerBan{{Peer: "peer-a", Until: now.Add(2 * time.Hour), Reason: "again"}}, nil, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SavePeers([]PeerBan{{Peer: ""}}, nil, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a ban of no peer: %v, want ErrInvalid", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gotBans, gotMarks, err := s.LoadPeers(now)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotBans) != 1 || gotBans[0].Peer != "peer-a" || gotBans[0].Reason != "again" || !gotBans[0].Until.Equal(now.Add(2*time.Hour)) {
		t.Errorf("bans %+v, want peer-a's second ban only", gotBans)
	}
	if len(gotMarks) != 5000 {
		t.Errorf("%d replay marks, want the 5000 in force", len(gotMarks))
	}
	// Later, the marks have run out.
	if _, m, _ := s.LoadPeers(now.Add(21 * time.Minute)); len(m) != 0 {
		t.Errorf("%d marks returned after their until", len(m))
	}
	if err := s.Verify(); err != nil {
		t.Errorf("Verify: %v", err)
	}

	// Damaged entries: Verify names each, LoadPeers skips them.
	err = s.Update(func(tx *Tx) error {
		if err := tx.set(append([]byte("p/r/"), "short"...), []byte{1, 2, 3, 4, 5, 6, 7, 8}, "test"); err != nil {
			return err
		}
		return tx.set(append([]byte("p/b/"), "peer-c"...), []byte{1, 2}, "test")
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Verify()
	if !errors.Is(err, ErrCorrupt) || strings.Count(err.Error(), "\n") != 1 ||
		!strings.Contains(err.Error(), "saved replay mark") || !strings.Contains(err.Error(), "value of 2 bytes") {
		t.Errorf("Verify over two damaged peer entries: %v", err)
	}
	if b, m, err := s.LoadPeers(now); err != nil || len(b) != 1 || len(m) != 5000 {
		t.Errorf("LoadPeers over damaged entries: %d bans, %d marks, %v", len(b), len(m), err)
	}
}
