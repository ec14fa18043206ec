package gossip

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Weights stream, WeightsProtocol, one request per stream:
//
//	request:  individual ID [32]byte, then the client closes its side
//	response: status u8; when statusOK, length u64 (little-endian) and
//	          that many bytes (train's weights encoding)
const (
	statusOK          = 0
	statusNotFound    = 1 // the peer does not hold them
	statusUnavailable = 2 // the peer failed, is busy, refuses the requester (over its rate or concurrency limit), or they exceed its MaxWeightsBytes

	weightsService = "evoswarm-weights" // resource manager service name
	maxServing     = 8                  // weights streams served at once
)

// Weights errors, wrapped by FetchWeights's error. ErrWeightsNotFound is
// also what a WeightsSource returns for weights it does not hold.
var (
	ErrWeightsNotFound = errors.New("weights not found")
	ErrDigestMismatch  = errors.New("weights do not match the announced digest")
	ErrSizeMismatch    = errors.New("weights do not have the announced size")
	errUnavailable     = errors.New("peer could not serve the weights")
)

// serveWeights answers one weights request. Every stream is bounded: the
// peer's rate and concurrency limits are checked before anything is read,
// the request must arrive within RequestTimeout, and each write of the
// response may wait at most StallTimeout for the peer to read (the whole
// answer, FetchTimeout). A peer over a limit, silent, or stalling loses
// score (OverLimitPenalty, StallPenalty), so that a flood ends in a ban.
func (s *Swarm) serveWeights(st network.Stream) {
	p := st.Conn().RemotePeer()
	if err := st.Scope().SetService(weightsService); err != nil {
		st.Reset()
		return
	}
	start := time.Now()
	if why := s.serveLimit.take(p, LimitServeRate, LimitServePeer); why != "" {
		if why != limitFull {
			s.abuse.counts[why].Add(1)
			s.Penalize(p, OverLimitPenalty, "weights requests over the limit ("+why+")")
		}
		s.refuse(st)
		return
	}
	defer s.serveLimit.done(p)
	st.SetDeadline(start.Add(s.cfg.FetchTimeout))
	st.SetReadDeadline(start.Add(min(s.cfg.RequestTimeout, s.cfg.FetchTimeout)))
	var id dna.ID
	if _, err := io.ReadFull(st, id[:]); err != nil {
		st.Reset()
		if isTimeout(err) {
			s.abuse.counts[LimitNoRequest].Add(1)
			s.Penalize(p, StallPenalty, fmt.Sprintf("opened a weights stream and sent no request within %v", s.cfg.RequestTimeout))
		}
		return
	}
	select {
	case s.serving <- struct{}{}:
		defer func() { <-s.serving }()
	default:
		s.abuse.counts[LimitServeBusy].Add(1)
		s.refuse(st) // busy: the asker retries
		return
	}
	status, blob := byte(statusNotFound), []byte(nil)
	if s.cfg.Weights != nil {
		b, err := s.cfg.Weights.Weights(id)
		switch {
		case errors.Is(err, ErrWeightsNotFound):
		case err != nil:
			s.log.Warn("could not read weights to serve", "id", id.Short(), "peer", p, "err", err)
			status = statusUnavailable
		case int64(len(b)) > s.cfg.MaxWeightsBytes:
			s.log.Warn("weights exceed MaxWeightsBytes; not serving them", "id", id.Short(), "bytes", len(b))
			status = statusUnavailable
		default:
			status, blob = statusOK, b
		}
	}
	end := start.Add(s.cfg.FetchTimeout)
	if err := s.respond(st, status, blob, end); err != nil {
		st.Reset()
		// A stall is a chunk not read for StallTimeout; a transfer that was
		// read steadily but outlasted FetchTimeout (a slow link) is cut
		// without blame.
		if isTimeout(err) && time.Now().Before(end) {
			s.abuse.counts[LimitStalled].Add(1)
			s.Penalize(p, StallPenalty, fmt.Sprintf("stopped reading the weights of %s for %v", id.Short(), s.cfg.StallTimeout))
		}
		return
	}
	s.abuse.served.Add(1)
	s.log.Debug("served weights", "id", id.Short(), "peer", p, "status", status, "bytes", len(blob))
}

// serveChunk is how much of a response is written under one write
// deadline.
const serveChunk = 64 << 10

// respond writes the answer in chunks, each of which may wait StallTimeout
// for the peer to read (and none past end), and closes the stream.
func (s *Swarm) respond(st network.Stream, status byte, blob []byte, end time.Time) error {
	hdr := []byte{status}
	if status == statusOK {
		hdr = binary.LittleEndian.AppendUint64(hdr, uint64(len(blob)))
	}
	write := func(b []byte) error {
		d := time.Now().Add(s.cfg.StallTimeout)
		if d.After(end) {
			d = end
		}
		st.SetWriteDeadline(d)
		_, err := st.Write(b)
		return err
	}
	if err := write(hdr); err != nil {
		return err
	}
	for len(blob) > 0 {
		n := min(len(blob), serveChunk)
		if err := write(blob[:n]); err != nil {
			return err
		}
		blob = blob[n:]
	}
	return st.Close()
}

// refuse answers "unavailable" without reading the request, and gives the
// answer one second to leave.
func (s *Swarm) refuse(st network.Stream) {
	st.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := st.Write([]byte{statusUnavailable}); err != nil {
		st.Reset()
		return
	}
	st.Close()
}

// isTimeout reports whether err is a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// FetchWeights asks peer from for the weights of individual id, as
// announced: size bytes whose digest (the trailing SHA-256 that ends every
// weights encoding, see train.Digest) is digest. It reads at most min(size, MaxWeightsBytes)
// bytes, checks the length, the digest and that the digest is the SHA-256
// of the rest of the blob, and returns the blob. Each attempt is bounded by
// FetchTimeout; network failures are retried up to FetchAttempts times with
// backoff, while a blob that fails the checks (ErrDigestMismatch,
// ErrSizeMismatch) or a peer that does not hold the weights
// (ErrWeightsNotFound) ends the fetch at once. Penalizing a peer that sent
// a bogus blob is left to the caller.
func (s *Swarm) FetchWeights(ctx context.Context, from peer.ID, id dna.ID, digest [32]byte, size int) ([]byte, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if size < 32 || int64(size) > s.cfg.MaxWeightsBytes {
		return nil, fmt.Errorf("gossip: fetch weights %s from %s: size %d is outside [32, %d]", id.Short(), from, size, s.cfg.MaxWeightsBytes)
	}
	backoff := s.cfg.FetchBackoff
	var err error
	for attempt := 1; attempt <= s.cfg.FetchAttempts; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("gossip: fetch weights %s from %s: %w (after: %w)", id.Short(), from, ctx.Err(), err)
			}
			backoff *= 2
		}
		var blob []byte
		blob, err = s.fetchOnce(ctx, from, id, digest, size)
		if err == nil {
			return blob, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("gossip: fetch weights %s from %s: %w (%w)", id.Short(), from, ctx.Err(), err)
		}
		if errors.Is(err, ErrWeightsNotFound) || errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrSizeMismatch) {
			return nil, fmt.Errorf("gossip: fetch weights %s from %s: %w", id.Short(), from, err)
		}
		s.log.Debug("weights fetch failed", "id", id.Short(), "peer", from, "attempt", attempt, "err", err)
	}
	return nil, fmt.Errorf("gossip: fetch weights %s from %s: giving up after %d attempts: %w", id.Short(), from, s.cfg.FetchAttempts, err)
}

func (s *Swarm) fetchOnce(ctx context.Context, from peer.ID, id dna.ID, digest [32]byte, size int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
	defer cancel()
	var blob []byte
	err := s.ask(ctx, from, WeightsProtocol, weightsService, id, func(r io.Reader) (err error) {
		blob, err = readWeightsResponse(r, digest, size, s.cfg.MaxWeightsBytes)
		return err
	})
	return blob, err
}

// readWeightsResponse reads a peer's answer to a weights request, as
// announced: size bytes whose digest is digest. It reads at most the 9
// bytes of the header and min(size, limit) bytes of blob, whatever the
// peer sends, and returns the blob only if its length is size, it ends
// with digest and digest is the SHA-256 of what precedes it.
func readWeightsResponse(r io.Reader, digest [32]byte, size int, limit int64) ([]byte, error) {
	var status [1]byte
	if _, err := io.ReadFull(r, status[:]); err != nil {
		return nil, err
	}
	switch status[0] {
	case statusOK:
	case statusNotFound:
		return nil, ErrWeightsNotFound
	case statusUnavailable:
		return nil, errUnavailable
	default:
		return nil, fmt.Errorf("unknown status %d", status[0])
	}
	var lb [8]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, err
	}
	limit = min(int64(size), limit)
	if n := binary.LittleEndian.Uint64(lb[:]); n != uint64(size) || n > uint64(limit) {
		return nil, fmt.Errorf("%w: the peer offers %d bytes, %d were announced", ErrSizeMismatch, n, size)
	}
	// Grown as bytes arrive, not allocated at the announced size: a peer
	// that announces 40 MB and then stalls holds only what it sent. The
	// capacity doubles but never passes size, so a blob holds about its
	// own size once read (a bytes.Buffer could hold twice that).
	blob := make([]byte, 0, min(size, 1<<20))
	for len(blob) < size {
		if len(blob) == cap(blob) {
			blob = slices.Grow(blob, min(cap(blob), size-len(blob)))
		}
		n, err := r.Read(blob[len(blob):min(cap(blob), size)])
		blob = blob[:len(blob)+n]
		if err != nil && len(blob) < size {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	// The blob is opaque here but for its framing: it ends with the
	// SHA-256 of what precedes it, and that is its announced digest.
	if len(blob) < sha256.Size {
		return nil, fmt.Errorf("%w: a blob of %d bytes cannot end with a digest", ErrDigestMismatch, len(blob))
	}
	var got [32]byte
	copy(got[:], blob[len(blob)-sha256.Size:])
	if got != digest {
		return nil, fmt.Errorf("%w: digest %x, announced %x", ErrDigestMismatch, got[:6], digest[:6])
	}
	// The digest is the blob's own checksum: the SHA-256 of what precedes it.
	if body := sha256.Sum256(blob[:len(blob)-32]); !bytes.Equal(body[:], digest[:]) {
		return nil, fmt.Errorf("%w: the blob's checksum does not match its content", ErrDigestMismatch)
	}
	return blob, nil
}
