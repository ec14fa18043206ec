package gossip

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// sealedBlob returns body followed by its SHA-256, and that digest.
func sealedBlob(body []byte) ([]byte, [32]byte) {
	d := sha256.Sum256(body)
	return append(bytes.Clone(body), d[:]...), d
}

// response frames blob as a peer answers a weights request.
func response(status byte, n uint64, blob []byte) []byte {
	b := []byte{status}
	if status == statusOK {
		b = binary.LittleEndian.AppendUint64(b, n)
	}
	return append(b, blob...)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// FuzzWeightsResponse fuzzes what a peer may send back on the weights
// stream (/evoswarm/weights/1) against what was announced (a size and a
// digest). The reader must never panic, never read more than the header
// and the announced size (capped by the limit), return a blob only when
// it is exactly the announced bytes with a matching, self-consistent
// digest (the bytes the peer sent, unchanged), accept every well-formed
// answer, and fail otherwise with one of its errors, not a generic one.
func FuzzWeightsResponse(f *testing.F) {
	blob, digest := sealedBlob([]byte("EVWT\x01 some weights of an individual"))
	other, _ := sealedBlob([]byte("EVWT\x01 other weights"))
	for _, seed := range []struct {
		resp    []byte
		size    uint32
		digest  []byte
		chunked bool
	}{
		{response(statusOK, uint64(len(blob)), blob), uint32(len(blob)), digest[:], false},
		{response(statusOK, uint64(len(blob)), blob), uint32(len(blob)), digest[:], true},
		{response(statusOK, uint64(len(blob)), blob[:len(blob)-5]), uint32(len(blob)), digest[:], false},
		{response(statusOK, uint64(len(other)), other), uint32(len(blob)), digest[:], false},
		{response(statusOK, 1<<62, blob), uint32(len(blob)), digest[:], false},
		{response(statusNotFound, 0, nil), uint32(len(blob)), digest[:], false},
		{response(statusUnavailable, 0, nil), uint32(len(blob)), digest[:], false},
		{[]byte{7}, uint32(len(blob)), digest[:], false},
		{nil, 32, make([]byte, 32), false},
	} {
		f.Add(seed.resp, seed.size, seed.digest, seed.chunked)
	}
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, resp []byte, size uint32, digestIn []byte, chunked bool) {
		size %= limit + 1024 // may exceed the limit a little
		var d [32]byte
		copy(d[:], digestIn)
		var r io.Reader = bytes.NewReader(resp)
		if chunked {
			r = iotest.OneByteReader(r)
		}
		cr := &countingReader{r: r}
		got, err := readWeightsResponse(cr, d, int(size), limit)
		if max := 9 + min(int(size), limit); cr.n > max {
			t.Fatalf("read %d bytes, at most %d may be read", cr.n, max)
		}
		// What a well-formed answer for this announcement looks like.
		wellFormed := len(resp) >= 9+int(size) && resp[0] == statusOK &&
			binary.LittleEndian.Uint64(resp[1:]) == uint64(size) && size <= limit && size >= 32
		if wellFormed {
			body := resp[9 : 9+size]
			sum := sha256.Sum256(body[:size-32])
			wellFormed = bytes.Equal(body[size-32:], d[:]) && sum == d
		}
		if err != nil {
			if wellFormed {
				t.Fatalf("a well-formed answer was refused: %v", err)
			}
			if !errors.Is(err, ErrWeightsNotFound) && !errors.Is(err, errUnavailable) && !errors.Is(err, ErrSizeMismatch) &&
				!errors.Is(err, ErrDigestMismatch) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
				(len(resp) == 0 || resp[0] <= statusUnavailable) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			if got != nil {
				t.Fatalf("an error and %d bytes", len(got))
			}
			return
		}
		if !wellFormed {
			t.Fatalf("accepted %d bytes of an answer that is not well formed", len(got))
		}
		if !bytes.Equal(got, resp[9:9+size]) {
			t.Fatal("the blob returned is not the bytes the peer sent")
		}
	})
}
