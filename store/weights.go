package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

// ErrBadWeights means a weights blob does not end with the SHA-256 of the
// bytes before it: it was damaged after it was written (on disk, in the
// value log). It also matches ErrCorrupt.
var ErrBadWeights error = &childError{msg: "store: weights fail their checksum", parent: ErrCorrupt}

// ErrIntactOnRetry is returned by Quarantine when the weights it was
// asked to quarantine read intact on a second try: nothing is damaged.
var ErrIntactOnRetry = errors.New("store: the weights read intact on a second try (a value-log file was rewritten during the first)")

// ErrDamagedFiles means Open found Badger's files damaged (and refused
// them, see checkFiles). It also matches ErrCorrupt.
var ErrDamagedFiles error = &childError{msg: "store: damaged Badger files", parent: ErrCorrupt}

// checkWeights reports why w is not a sealed weights blob: the bytes of
// the weights followed by the SHA-256 of those bytes, as train's encoding
// (train.Weights.MarshalBinary) ends. The store checks it when weights go
// in (Insert) and every time they come out (Weights, Reserve, Verify), so
// that no reader, whether a tournament's parent, an export, a peer asking
// for a migrant's weights or verify, ever gets weights damaged at rest.
func checkWeights(w []byte) error {
	if len(w) < sha256.Size {
		return fmt.Errorf("%d bytes cannot end with a SHA-256", len(w))
	}
	body, sum := w[:len(w)-sha256.Size], w[len(w)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return fmt.Errorf("the SHA-256 of its %d bytes is %x..., the blob ends with %x...", len(body), got[:4], sum[:4])
	}
	return nil
}

// Seal returns b followed by its SHA-256: the framing that Insert requires
// of weights. Train's encoding already ends so; Seal is for tests and
// tools that store other bytes.
func Seal(b []byte) []byte {
	sum := sha256.Sum256(b)
	return append(b[:len(b):len(b)], sum[:]...)
}

// Quarantine records the alive individual id as dead because its weights
// failed their checksum (cause, an error matching ErrBadWeights from
// Weights or Reserve): it is then never picked as a parent, emigrated,
// served to a peer or exported again, and its damaged weights are deleted;
// its record and lineage stay. It logs an error naming it, since damage at
// rest deserves a look (evoswarm verify). If id is no longer alive, it
// returns ErrNotAlive.
//
// The weights are read once more first, in this new transaction: a read
// that raced Badger's value-log GC (the file holding the bytes rewritten
// and deleted under an older transaction) gives none of them, though
// nothing is damaged. If they now read intact, nothing changes and the
// error wraps ErrIntactOnRetry.
func (s *Store) Quarantine(id dna.ID, cause error, at time.Time) error {
	reason := "weights damaged at rest (they fail their checksum)"
	err := s.Update(func(tx *Tx) error {
		if _, err := tx.Weights(id); err == nil {
			return fmt.Errorf("%w: %s (first: %w)", ErrIntactOnRetry, id.Short(), cause)
		} else if !errors.Is(err, ErrBadWeights) {
			return err
		}
		return tx.Kill(id, reason, at)
	})
	if err != nil {
		return err
	}
	s.log.Error("an individual's stored weights are damaged: it is recorded dead and will not be bred from, served or exported; run evoswarm verify on the stopped node",
		"id", id.Short(), "err", cause)
	return nil
}
