package gossip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// FuzzReadLineage fuzzes what a peer may send back on the lineage stream
// (/evoswarm/lineage/1). The reader must never panic, never read more
// than the largest valid answer, return a chain only when it is well
// framed, within bounds and holds together (encoding it again gives back
// exactly the bytes it consumed), and otherwise fail with ErrBadLineage,
// ErrLineageNotFound, the "unavailable" answer, or a short read.
func FuzzReadLineage(f *testing.F) {
	pa, _ := peer.IDFromPrivateKey(testKey(f))
	pb, _ := peer.IDFromPrivateKey(testKey(f))
	chain := testChain(f, pa, 4)
	hop := chain[3]
	hop.Node, hop.Immigrant = pb, true
	good, err := EncodeLineage(append(chain, hop))
	if err != nil {
		f.Fatal(err)
	}
	id := hop.ID
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{statusNotFound})
	f.Add([]byte{statusUnavailable})
	f.Add(binary.LittleEndian.AppendUint32([]byte{statusOK}, MaxLineageSteps+1))
	f.Add(append(bytes.Clone(good), 1, 2, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &countingReader{r: bytes.NewReader(b)}
		steps, err := ReadLineage(r, id)
		if r.n > maxLineageBytes {
			t.Fatalf("read %d bytes, the largest valid answer is %d", r.n, maxLineageBytes)
		}
		if err != nil {
			if steps != nil {
				t.Fatal("steps with an error")
			}
			if !errors.Is(err, ErrBadLineage) && !errors.Is(err, ErrLineageNotFound) && !errors.Is(err, errLineageBusy) &&
				!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if err := CheckChain(id, steps); err != nil {
			t.Fatalf("accepted a chain that does not hold: %v", err)
		}
		again, err := EncodeLineage(steps)
		if err != nil {
			t.Fatalf("accepted a chain that does not encode: %v", err)
		}
		if !bytes.Equal(again, b[:r.n]) {
			t.Fatalf("the chain encodes as %x, read from %x", again, b[:r.n])
		}
	})
}
