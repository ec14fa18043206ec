package store

import (
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/evoswarm/evoswarm/island/dna"
)

// rawSet writes key directly, behind the store's back.
func rawSet(t *testing.T, s *Store, key, val []byte) {
	t.Helper()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, val) }); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptRecordsRefused(t *testing.T) {
	id := testID(1)
	for _, tc := range []struct {
		name string
		key  []byte
		val  []byte
		read func(*Tx) error
	}{
		{"garbage record", idKey(prefixIndividual, id), []byte("\x00\xffnot json"),
			func(tx *Tx) error { _, err := tx.Get(id); return err }},
		{"future record version", idKey(prefixIndividual, id), []byte(`{"v":2,"id":"` + id.String() + `","status":"alive"}`),
			func(tx *Tx) error { _, err := tx.Get(id); return err }},
		{"record under another id", idKey(prefixIndividual, id), []byte(`{"v":1,"id":"` + testID(2).String() + `","status":"alive"}`),
			func(tx *Tx) error { _, err := tx.Get(id); return err }},
		{"unknown status", idKey(prefixIndividual, id), []byte(`{"v":1,"id":"` + id.String() + `","status":"zombie"}`),
			func(tx *Tx) error { _, err := tx.Get(id); return err }},
		{"bad parent", idKey(prefixIndividual, id), []byte(`{"v":1,"id":"` + id.String() + `","status":"alive","parent":"xyz"}`),
			func(tx *Tx) error { _, err := tx.Get(id); return err }},
		{"short alive entry", idKey(prefixAlive, id), []byte{1, 2, 3},
			func(tx *Tx) error { _, err := tx.Alive(); return err }},
		{"bad alive key", []byte("a/short"), make([]byte, memberSize),
			func(tx *Tx) error { _, err := tx.Alive(); return err }},
		{"garbage event", eventKey(1), []byte("{"),
			func(tx *Tx) error { return tx.Events(0, func(Event) error { return nil }) }},
		{"event with wrong seq", eventKey(1), []byte(`{"v":1,"seq":9,"type":"birth"}`),
			func(tx *Tx) error { return tx.Events(0, func(Event) error { return nil }) }},
		{"garbage counters", keyCounters, []byte("[]"),
			func(tx *Tx) error { _, err := tx.Counters(); return err }},
		{"short seed", keySeed, []byte{1},
			func(tx *Tx) error { _, err := tx.Seed(); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openMem(t)
			rawSet(t, s, tc.key, tc.val)
			if err := s.View(tc.read); !errors.Is(err, ErrCorrupt) {
				t.Errorf("read returned %v, want ErrCorrupt", err)
			}
			if err := s.Verify(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Verify returned %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestVerifyFindsInconsistency(t *testing.T) {
	s := openMem(t)
	a := newInd(1, dna.ID{}, 0.5)
	insert(t, s, a)
	// An alive index entry without a record, and a dead record with weights.
	rawSet(t, s, idKey(prefixAlive, testID(5)), encodeMember(newInd(5, dna.ID{}, 0)))
	if err := s.Verify(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Verify of an orphan index entry returned %v, want ErrCorrupt", err)
	}
}

func FuzzDecodeIndividual(f *testing.F) {
	ind := newInd(1, testID(2), 0.5)
	ind.Status = StatusAlive
	b, err := encodeIndividual(ind)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeIndividual(testID(1), b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if got.ID != testID(1) {
			t.Fatalf("decoded id %s", got.ID)
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	b, err := encodeEvent(&Event{Seq: 3, Time: t0, Type: EventDeath, ID: testID(1), Detail: "x"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := decodeEvent(3, b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
		}
	})
}

func FuzzDecodeMember(f *testing.F) {
	f.Add(encodeMember(newInd(1, dna.ID{}, 0.5)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := decodeMember(testID(1), b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
		}
	})
}
