package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/evoswarm/evoswarm/island/dna"
)

// The ancestry an immigrant came with, as its sender told it at admission
// (the node's lineage stream, /evoswarm/lineage/1):
//
//	l/<id>  a Lineage (id: the immigrant's 32 raw bytes), binary:
//	        version u8 (1, or 3 followed by flags u8 and, with flag bit 0,
//	        Join [32]; version 2, from one commit's builds, had the flags
//	        byte but no Join: its chain joins at its first step), at i64 (Unix nanoseconds), from and receiver
//	        (length u8, bytes), error (length u16, bytes), count u32, then
//	        count steps: id [32], parent [32], fitness f64 bits, born i64,
//	        flags u8 (bit 0: immigrant), mutation and node (length u8,
//	        bytes). Integers big-endian.
//
// A chain is stored only as far back as it is new here: where it reaches
// an individual born here, it is cut there and Join names that
// individual, whose own record here goes on with the ancestry. A swarm whose
// lineages cross back and forth so stores each step about once, instead of
// every immigrant's whole chain (up to MaxLineageSteps steps: about 180
// bytes a step, some 730 kB at most).
//
// A record is written when an admitted migrant's chain is fetched (or
// failed to be), before the island lets it compete: one that then loses
// its tournament leaves a record without an individual until PruneLineage.
// The individuals, events and counters never refer to these records, and
// an older build ignores the prefix.
var prefixLineage = []byte("l/")

// Bounds of a stored chain, as on the lineage stream.
const (
	MaxLineageSteps  = 4096
	maxLineageMut    = 32
	maxLineageNode   = 64
	maxLineageError  = 512
	lineageVersion   = 1
	lineageJoined    = 3 // the version of a record with flags and Join
	lineageJoinedV2  = 2 // flags, no Join: the first step joins
	lineageStepFixed = 32 + 32 + 8 + 8 + 1
)

// Lineage is the ancestry an immigrant came with.
type Lineage struct {
	From     string    // peer ID (raw bytes) of the sender, asked for the chain
	Receiver string    // peer ID (raw bytes) of this node, which received it
	At       time.Time // when the chain was asked for
	// Error is why the chain is unknown (Steps empty): the sender did not
	// answer, or answered what does not hold together.
	Error string
	// Steps is the chain, oldest first, ending with the immigrant as it
	// lived on its sender.
	Steps []LineageStep
	// Join, when not zero, is an individual born here where the chain was
	// cut: the steps go on from its record here, which comes before the
	// first step (the same individual on the node it migrated to, or its
	// child).
	Join dna.ID
}

// LineageStep is one step of a chain: an individual as it lived on a node.
type LineageStep struct {
	ID, Parent dna.ID
	Mutation   string // "" for an initial individual
	Fitness    float64
	Born       time.Time
	Node       string // peer ID (raw bytes) of the node it lived on
	Immigrant  bool   // it came to Node from another node
}

// PutLineage records the chain immigrant id came with, replacing any.
func (tx *Tx) PutLineage(id dna.ID, l *Lineage) error {
	if err := tx.writable("put lineage"); err != nil {
		return err
	}
	v, err := encodeLineage(l)
	if err != nil {
		return fmt.Errorf("%w: lineage of %s: %w", ErrInvalid, id.Short(), err)
	}
	return tx.set(idKey(prefixLineage, id), v, "put lineage of "+id.Short())
}

// Lineage returns the chain immigrant id came with, or an error wrapping
// ErrNotFound (a local individual, an immigrant from before chains were
// kept), or ErrCorrupt for a record that does not decode.
func (tx *Tx) Lineage(id dna.ID) (*Lineage, error) {
	item, err := tx.txn.Get(idKey(prefixLineage, id))
	if err != nil {
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil, fmt.Errorf("%w: lineage of %s", ErrNotFound, id)
		}
		return nil, wrapBadger("get lineage of "+id.Short(), err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, wrapBadger("get lineage of "+id.Short(), err)
	}
	l, err := decodeLineage(v)
	if err != nil {
		return nil, fmt.Errorf("%w: lineage of %s: %w", ErrCorrupt, id.Short(), err)
	}
	return l, nil
}

// PruneLineage deletes the chains of migrants that never became
// individuals here (they lost their tournament, or the node stopped
// first), and returns how many. With a zero storedBefore it deletes them
// all: run it so when no admission is in flight, before the swarm starts.
// Otherwise it deletes only those asked for before storedBefore (an
// undecodable one too), so that a running node can drop its losers'
// chains while the admissions in flight keep theirs.
func (s *Store) PruneLineage(storedBefore time.Time) (int, error) {
	var orphans []dna.ID
	err := s.View(func(tx *Tx) error {
		return tx.scanIDs(prefixLineage, !storedBefore.IsZero(), func(id dna.ID, v []byte) error {
			has, err := tx.exists(idKey(prefixIndividual, id), "prune lineage")
			if err != nil || has {
				return err
			}
			if !storedBefore.IsZero() {
				if l, err := decodeLineage(v); err == nil && !l.At.Before(storedBefore) {
					return nil // an admission may still be under way
				}
			}
			orphans = append(orphans, id)
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	n := len(orphans)
	for len(orphans) > 0 {
		batch := orphans[:min(len(orphans), 1024)]
		orphans = orphans[len(batch):]
		err := s.Update(func(tx *Tx) error {
			for _, id := range batch {
				// The migrant may have become an individual since the scan.
				if has, err := tx.exists(idKey(prefixIndividual, id), "prune lineage"); err != nil {
					return err
				} else if has {
					n--
					continue
				}
				if err := tx.delete(idKey(prefixLineage, id), "prune lineage"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// verifyLineage checks that every stored chain decodes and ends with the
// immigrant it is stored for. A chain without an individual is no fault
// (a migrant that lost its tournament; PruneLineage drops it).
func (tx *Tx) verifyLineage() error {
	var errs []error
	err := tx.scanIDs(prefixLineage, true, func(id dna.ID, v []byte) error {
		l, err := decodeLineage(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%w: lineage of %s: %w", ErrCorrupt, id.Short(), err))
		case len(l.Steps) > 0 && l.Steps[len(l.Steps)-1].ID != id:
			errs = append(errs, fmt.Errorf("%w: the lineage stored for %s ends with %s", ErrCorrupt, id.Short(), l.Steps[len(l.Steps)-1].ID.Short()))
		}
		if len(errs) >= 8 {
			return errStopScan
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

var errStopScan = errors.New("stop")

func encodeLineage(l *Lineage) ([]byte, error) {
	if len(l.Steps) > MaxLineageSteps {
		return nil, fmt.Errorf("%d steps, the limit is %d", len(l.Steps), MaxLineageSteps)
	}
	if len(l.From) > maxLineageNode || len(l.Receiver) > maxLineageNode {
		return nil, fmt.Errorf("peer IDs of %d and %d bytes, the limit is %d", len(l.From), len(l.Receiver), maxLineageNode)
	}
	e := l.Error
	if len(e) > maxLineageError {
		e = e[:maxLineageError]
	}
	b := make([]byte, 0, 32+len(l.From)+len(l.Receiver)+len(e)+len(l.Steps)*(lineageStepFixed+64))
	if !l.Join.IsZero() {
		if len(l.Steps) == 0 {
			return nil, errors.New("a chain that joins this store's records has no step")
		}
		b = append(b, lineageJoined, 1)
		b = append(b, l.Join[:]...)
	} else {
		b = append(b, lineageVersion)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(l.At.UnixNano()))
	b = append(append(b, byte(len(l.From))), l.From...)
	b = append(append(b, byte(len(l.Receiver))), l.Receiver...)
	b = append(binary.BigEndian.AppendUint16(b, uint16(len(e))), e...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(l.Steps)))
	for i, st := range l.Steps {
		if len(st.Mutation) > maxLineageMut || len(st.Node) > maxLineageNode {
			return nil, fmt.Errorf("step %d: a mutation of %d bytes, a node of %d; the limits are %d and %d",
				i, len(st.Mutation), len(st.Node), maxLineageMut, maxLineageNode)
		}
		b = append(b, st.ID[:]...)
		b = append(b, st.Parent[:]...)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(st.Fitness))
		b = binary.BigEndian.AppendUint64(b, uint64(st.Born.UnixNano()))
		var flags byte
		if st.Immigrant {
			flags = 1
		}
		b = append(b, flags)
		b = append(append(b, byte(len(st.Mutation))), st.Mutation...)
		b = append(append(b, byte(len(st.Node))), st.Node...)
	}
	return b, nil
}

// lineageReader reads a record's fields, remembering the first shortfall.
type lineageReader struct {
	b   []byte
	err error
}

func (r *lineageReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("ends %d bytes short", n-len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *lineageReader) str(lenBytes, limit int) string {
	lb := r.take(lenBytes)
	if r.err != nil {
		return ""
	}
	n := int(lb[0])
	if lenBytes == 2 {
		n = int(binary.BigEndian.Uint16(lb))
	}
	if n > limit {
		r.err = fmt.Errorf("a field of %d bytes, the limit is %d", n, limit)
		return ""
	}
	return string(r.take(n))
}

func (r *lineageReader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func decodeLineage(v []byte) (*Lineage, error) {
	r := &lineageReader{b: v}
	l := &Lineage{}
	joinsFirst := false
	switch ver := r.take(1); {
	case r.err != nil:
	case ver[0] == lineageJoined || ver[0] == lineageJoinedV2:
		if f := r.take(1); f != nil {
			if f[0]&^1 != 0 {
				return nil, fmt.Errorf("unknown flags %#x", f[0])
			}
			joinsFirst = f[0] == 1 && ver[0] == lineageJoinedV2
			if f[0] == 1 && ver[0] == lineageJoined {
				copy(l.Join[:], r.take(32))
			}
		}
	case ver[0] != lineageVersion:
		return nil, fmt.Errorf("version %d, want %d or %d", ver[0], lineageVersion, lineageJoined)
	}
	l.At = time.Unix(0, int64(r.u64())).UTC()
	l.From = r.str(1, maxLineageNode)
	l.Receiver = r.str(1, maxLineageNode)
	l.Error = r.str(2, maxLineageError)
	var n uint32
	if c := r.take(4); c != nil {
		n = binary.BigEndian.Uint32(c)
	}
	if n > MaxLineageSteps {
		return nil, fmt.Errorf("%d steps, the limit is %d", n, MaxLineageSteps)
	}
	if r.err == nil {
		l.Steps = make([]LineageStep, 0, n)
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		var st LineageStep
		copy(st.ID[:], r.take(32))
		copy(st.Parent[:], r.take(32))
		st.Fitness = math.Float64frombits(r.u64())
		st.Born = time.Unix(0, int64(r.u64())).UTC()
		if f := r.take(1); f != nil {
			if f[0]&^1 != 0 {
				return nil, fmt.Errorf("step %d: unknown flags %#x", i, f[0])
			}
			st.Immigrant = f[0] == 1
		}
		st.Mutation = r.str(1, maxLineageMut)
		st.Node = r.str(1, maxLineageNode)
		l.Steps = append(l.Steps, st)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d bytes after the last step", len(r.b))
	}
	if joinsFirst && len(l.Steps) > 0 {
		l.Join = l.Steps[0].ID
	}
	if (!l.Join.IsZero() || joinsFirst) && len(l.Steps) == 0 {
		return nil, errors.New("a chain that joins this store's records has no step")
	}
	return l, nil
}
