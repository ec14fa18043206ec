package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

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
		{"negative training seconds", idKey(prefixIndividual, id), []byte(`{"v":1,"id":"` + id.String() + `","status":"alive","train_seconds":-1}`),
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

// TestVerifyAcceptsOlderTrainingSeconds: a training_seconds_total below
// what the records account for (an older build rewrote the counters
// without it) is not corruption.
func TestVerifyAcceptsOlderTrainingSeconds(t *testing.T) {
	s := openMem(t)
	a := newInd(1, dna.ID{}, 0.5)
	a.TrainSeconds = 2
	insert(t, s, a)
	err := s.Update(func(tx *Tx) error {
		c, err := tx.counters()
		if err != nil {
			return err
		}
		c.TrainingSeconds, tx.countersDirty = 0, true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	verify(t, s)
}

// FuzzDecodeIndividual fuzzes stored records: errors wrap ErrCorrupt, and
// a record that decodes and can be stored again (encodeIndividual checks
// it) decodes back to the same individual.
func FuzzDecodeIndividual(f *testing.F) {
	ind := newInd(1, testID(2), 0.5)
	ind.Status = StatusAlive
	ind.HasTest, ind.TestAccuracy = true, 0.25
	ind.TrainSeconds = 3.25
	b, err := encodeIndividual(ind)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	ind.Status, ind.Died, ind.DeathReason = StatusDead, t0.Add(time.Hour), "lost"
	if b, err = encodeIndividual(ind); err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"id":"` + testID(1).String() + `","status":"training","born":"2026-03-01T12:00:00+05:00"}`))
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
		again, err := encodeIndividual(got)
		if err != nil {
			return // decodes, but could not be stored as it is (say, no birth time)
		}
		back, err := decodeIndividual(testID(1), again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !sameIndividual(got, back) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", got, back)
		}
	})
}

// sameIndividual compares two records, times by instant.
func sameIndividual(a, b *Individual) bool {
	x, y := *a, *b
	if !x.Born.Equal(y.Born) || !x.Died.Equal(y.Died) {
		return false
	}
	x.Born, y.Born, x.Died, y.Died = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(x, y)
}

// FuzzDecodeEvent fuzzes stored events: errors wrap ErrCorrupt, and an
// event that decodes and encodes decodes back to the same event.
func FuzzDecodeEvent(f *testing.F) {
	b, err := encodeEvent(&Event{Seq: 3, Time: t0, Type: EventDeath, ID: testID(1), Detail: "x"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	if b, err = encodeEvent(&Event{Seq: 3, Time: t0, Type: EventBirth, ID: testID(1), Parent: testID(2), Fitness: 0.5, Mutation: "identity", Origin: "p"}); err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeEvent(3, b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := encodeEvent(&ev)
		if err != nil {
			return
		}
		back, err := decodeEvent(3, again)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if !ev.Time.Equal(back.Time) {
			t.Fatalf("round trip changed the time: %v, %v", ev.Time, back.Time)
		}
		ev.Time, back.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(ev, back) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, back)
		}
	})
}

// FuzzDecodeMember fuzzes alive-index entries: errors wrap ErrCorrupt, and
// an entry that decodes encodes back to the same bytes.
func FuzzDecodeMember(f *testing.F) {
	f.Add(encodeMember(newInd(1, dna.ID{}, 0.5)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMember(testID(1), b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if again := encodeMember(&Individual{Fitness: m.Fitness, BirthSeq: m.BirthSeq}); !bytes.Equal(again, b) {
			t.Fatalf("round trip changed the entry: %x, %x", b, again)
		}
	})
}

// TestQuarantineRereads: Quarantine reads the weights again first: intact
// ones (a first read that raced the value-log GC) are left alive with
// ErrIntactOnRetry; damaged ones are quarantined.
func TestQuarantineRereads(t *testing.T) {
	s := openMem(t)
	intact, damaged := newInd(1, dna.ID{}, 0.5), newInd(2, dna.ID{}, 0.6)
	insert(t, s, intact, damaged)
	bad := weightsOf(2, 64)
	bad[0] ^= 1 // no longer matches its checksum
	rawSet(t, s, idKey(prefixWeights, damaged.ID), bad)
	cause := fmt.Errorf("%w: the value log gave none of its bytes", ErrBadWeights)
	if err := s.Quarantine(intact.ID, cause, t0); !errors.Is(err, ErrIntactOnRetry) {
		t.Errorf("quarantine of intact weights: %v, want ErrIntactOnRetry", err)
	}
	if got, _ := s.Get(intact.ID); got.Status != StatusAlive {
		t.Errorf("the individual with intact weights is %v, want alive", got.Status)
	}
	if err := s.Quarantine(damaged.ID, cause, t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(damaged.ID); got.Status != StatusDead {
		t.Errorf("the individual with damaged weights is %v, want dead", got.Status)
	}
}
