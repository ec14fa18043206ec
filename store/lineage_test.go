package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testLineage(n int) *Lineage {
	l := &Lineage{From: "\x00\x24sender", Receiver: "\x00\x24receiver", At: t0.Add(time.Hour), Error: ""}
	for i := range n {
		st := LineageStep{ID: testID(100 + i), Fitness: 0.1 * float64(i%10), Born: t0.Add(time.Duration(i) * time.Minute), Node: "\x00\x24sender"}
		if i > 0 {
			st.Parent, st.Mutation = testID(99+i), "alter-stride"
		}
		l.Steps = append(l.Steps, st)
	}
	last := l.Steps[n-1]
	last.Immigrant, last.Node = true, "\x00\x24relay"
	l.Steps = append(l.Steps, last)
	return l
}

// TestLineageRecord: a stored chain reads back as written, survives a
// reopen, passes Verify; one that does not decode fails it; PruneLineage
// drops the chains of migrants that never became individuals.
func TestLineageRecord(t *testing.T) {
	s, dir := openDisk(t)
	l := testLineage(MaxLineageSteps - 1) // the largest chain
	imm := newInd(1, l.Steps[len(l.Steps)-1].Parent, 0.9)
	imm.ID, imm.Immigrant = l.Steps[len(l.Steps)-1].ID, true
	insert(t, s, imm)
	unknown := &Lineage{From: "x", Receiver: "y", At: t0, Error: "the sender did not answer"}
	orphan := testLineage(3)
	// A chain cut where it joins this store's records: version 3, flags, Join.
	joined := testLineage(2)
	joined.Steps, joined.Join = joined.Steps[1:], joined.Steps[0].ID
	err := s.Update(func(tx *Tx) error {
		if err := tx.PutLineage(imm.ID, l); err != nil {
			return err
		}
		if err := tx.PutLineage(joined.Steps[len(joined.Steps)-1].ID, joined); err != nil {
			return err
		}
		if err := tx.PutLineage(testID(13), &Lineage{Join: testID(5)}); !errors.Is(err, ErrInvalid) {
			t.Errorf("a joined chain without steps: %v, want ErrInvalid", err)
		}
		if err := tx.PutLineage(testID(7), unknown); err != nil {
			return err
		}
		return tx.PutLineage(orphan.Steps[3].ID, orphan)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx *Tx) error { return tx.PutLineage(testID(8), testLineage(MaxLineageSteps)) }); !errors.Is(err, ErrInvalid) {
		t.Errorf("a chain over the limit: %v, want ErrInvalid", err)
	}
	verify(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got, gotUnknown *Lineage
	err = s.View(func(tx *Tx) error {
		var err error
		if got, err = tx.Lineage(imm.ID); err != nil {
			return err
		}
		if gotUnknown, err = tx.Lineage(testID(7)); err != nil {
			return err
		}
		if j, err := tx.Lineage(joined.Steps[len(joined.Steps)-1].ID); err != nil || !reflect.DeepEqual(j, joined) {
			t.Errorf("the joined chain reads back as %+v, %v; want %+v", j, err, joined)
		}
		_, err = tx.Lineage(testID(9))
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("no chain: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, l) {
		t.Errorf("the chain read back differs (%d steps, want %d)", len(got.Steps), len(l.Steps))
	}
	if gotUnknown.Error != unknown.Error || len(gotUnknown.Steps) != 0 {
		t.Errorf("the unknown chain reads back as %+v", gotUnknown)
	}
	verify(t, s)

	n, err := s.PruneLineage(t0.Add(-time.Hour))
	if err != nil || n != 0 {
		t.Errorf("PruneLineage of chains stored before all of them: %d, %v; want none", n, err)
	}
	n, err = s.PruneLineage(t0.Add(2 * time.Hour))
	if err != nil || n != 3 {
		t.Errorf("PruneLineage: %d, %v; want the 3 chains without an individual", n, err)
	}
	if err := s.View(func(tx *Tx) error { _, err := tx.Lineage(imm.ID); return err }); err != nil {
		t.Errorf("the immigrant's chain was pruned: %v", err)
	}

	// Damage: a record cut short, one stored under another immigrant.
	err = s.Update(func(tx *Tx) error {
		v, _ := encodeLineage(testLineage(2))
		if err := tx.set(idKey(prefixLineage, testID(10)), v[:len(v)-5], "test"); err != nil {
			return err
		}
		return tx.set(idKey(prefixLineage, testID(11)), v, "test")
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Verify()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "short") || !strings.Contains(err.Error(), "ends with") {
		t.Errorf("Verify of damaged chains: %v", err)
	}
}

func FuzzDecodeLineage(f *testing.F) {
	v, _ := encodeLineage(testLineage(3))
	f.Add(v)
	f.Add(v[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLineage(b)
		if err != nil {
			return
		}
		again, err := encodeLineage(l)
		if err != nil {
			t.Fatalf("decoded what does not encode: %v", err)
		}
		if string(again) != string(b) {
			t.Fatalf("re-encodes differently")
		}
	})
}

// TestLineageRecordVersion2: a record of the one commit whose format had
// the flags byte but no Join (version 2, flag bit 0: the chain joins at
// its first step) reads as a chain joined at its first step; the current
// format writes version 3.
func TestLineageRecordVersion2(t *testing.T) {
	l := testLineage(2)
	v1, err := encodeLineage(l)
	if err != nil {
		t.Fatal(err)
	}
	if v1[0] != lineageVersion {
		t.Fatalf("an unjoined chain is written as version %d, want %d", v1[0], lineageVersion)
	}
	v2 := append([]byte{lineageJoinedV2, 1}, v1[1:]...)
	got, err := decodeLineage(v2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Join != l.Steps[0].ID || len(got.Steps) != len(l.Steps) {
		t.Errorf("version 2: join %s, %d steps; want %s and %d", got.Join.Short(), len(got.Steps), l.Steps[0].ID.Short(), len(l.Steps))
	}
	l.Join = l.Steps[0].ID
	v3, err := encodeLineage(l)
	if err != nil {
		t.Fatal(err)
	}
	if v3[0] != lineageJoined || v3[1] != 1 {
		t.Errorf("a joined chain is written as version %d flags %d, want %d and 1", v3[0], v3[1], lineageJoined)
	}
	if back, err := decodeLineage(v3); err != nil || back.Join != l.Join {
		t.Errorf("version 3 round trip: %v, %v", back, err)
	}
}
