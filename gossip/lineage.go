package gossip

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Lineage stream, LineageProtocol, one request per stream. A node answers
// with the ancestry of an individual it holds, as far as it knows it: its
// own records walked through parent IDs and, at an immigrant, the chain
// that immigrant came with (fetched from its sender at admission), so that
// chains compose across any number of hops. The announcement carries only
// the nearest MaxLineage ancestors; this stream carries the whole chain.
//
//	request:  individual ID [32]byte, then the client closes its side
//	response: status u8 (statusOK, statusNotFound, statusUnavailable);
//	          when statusOK: count u32 (little-endian, 1..MaxLineageSteps),
//	          then count steps, oldest first, each:
//	            id [32]byte, parent [32]byte (zero: an initial individual),
//	            fitness f64 (little-endian IEEE 754, in [0, 1]),
//	            born i64 (little-endian Unix nanoseconds),
//	            flags u8 (bit 0: an immigrant on that node; others zero),
//	            mutation: length u8 (at most maxStepMutation) and that many
//	              bytes of [a-z0-9()-] ("" for an initial individual),
//	            node: length u8 (1..maxStepNode) and the raw bytes of the
//	              peer ID of the node the step lived on
//
// The chain ends with the requested individual as the answering node holds
// it. Each step's parent is the step before it, except at a migration,
// where the same individual appears twice: as it lived on the node that
// sent it, then as an immigrant on the node that received it. A first step
// whose parent is not zero means the ancestry beyond it is unknown (an
// immigrant whose chain could not be fetched, or a chain cut to the newest
// MaxLineageSteps).
const (
	// LineageProtocol is the direct stream that serves an individual's
	// ancestry.
	LineageProtocol protocol.ID = "/evoswarm/lineage/1"
	// MaxLineageSteps bounds a chain on the wire and in a store: a node
	// serving a longer one sends the newest MaxLineageSteps.
	MaxLineageSteps = 4096
	// LineageTimeout bounds one lineage request, from opening the stream
	// to the last byte of the answer.
	LineageTimeout = 15 * time.Second

	maxStepMutation = 32
	maxStepNode     = 64
	stepFixed       = 32 + 32 + 8 + 8 + 1 + 1 + 1               // without the mutation and node bytes
	maxStepBytes    = stepFixed + maxStepMutation + maxStepNode // 179
	maxLineageBytes = 1 + 4 + MaxLineageSteps*maxStepBytes      // about 733 KB
	lineageService  = "evoswarm-lineage"                        // resource manager service name
	maxLineageServe = 4                                         // lineage streams served at once
	lineageRequest  = 10 * time.Second                          // a peer that opened a stream must ask within it
)

// Lineage errors. ErrLineageNotFound is also what a LineageSource returns
// for an individual it does not hold; FetchLineage's errors for a reply
// that breaks the protocol wrap ErrBadLineage.
var (
	ErrLineageNotFound = errors.New("lineage not found")
	ErrBadLineage      = errors.New("malformed lineage reply")
	errLineageBusy     = errors.New("peer could not serve the lineage")
)

// LineageStep is one step of an individual's ancestry: an individual as it
// lived on one node.
type LineageStep struct {
	ID     dna.ID
	Parent dna.ID // zero for an initial individual
	// Mutation is the mutation that made it (dna.Kind.String()); "" for an
	// initial individual.
	Mutation string
	Fitness  float64 // validation accuracy, as measured on Node
	Born     time.Time
	Node     peer.ID // the node it lived on
	// Immigrant: it came to Node from another node (the step before it is
	// the same individual on its sender).
	Immigrant bool
}

// LineageSource gives the chains this node serves on LineageProtocol,
// oldest first, at most max steps (the newest ones), ending with id; it
// returns an error wrapping ErrLineageNotFound for an individual it does
// not hold. It must be safe for concurrent use.
type LineageSource interface {
	Lineage(id dna.ID, max int) ([]LineageStep, error)
}

// lineageServer answers LineageProtocol streams from a source.
type lineageServer struct {
	s       *Swarm
	src     LineageSource
	serving chan struct{}
	// limit holds each peer to the weights protocol's rate and
	// concurrency (ServeRate, ServeBurst, ServePerPeer): a node asks for a
	// lineage once per immigrant it admits, right after its weights.
	limit *rateBook
}

// ServeLineage starts answering LineageProtocol requests from src (a nil
// src stops it). Each stream is bounded: each peer is held to the weights
// protocol's rate and concurrency limits (over them it is answered
// "unavailable" and loses OverLimitPenalty), at most a few streams are
// served at once, the request must arrive within 10 seconds (or the peer
// loses StallPenalty) and the whole answer leave within LineageTimeout.
func (s *Swarm) ServeLineage(src LineageSource) {
	if src == nil {
		s.host.RemoveStreamHandler(LineageProtocol)
		return
	}
	ls := &lineageServer{s: s, src: src, serving: make(chan struct{}, maxLineageServe),
		limit: newRateBook(s.cfg.ServeRate, s.cfg.ServeBurst, s.cfg.ServePerPeer)}
	s.host.SetStreamHandler(LineageProtocol, ls.serve)
}

func (ls *lineageServer) serve(st network.Stream) {
	s, p := ls.s, st.Conn().RemotePeer()
	if err := st.Scope().SetService(lineageService); err != nil {
		st.Reset()
		return
	}
	if why := ls.limit.take(p, LimitLineageRate, LimitLineagePeer); why != "" {
		if why != limitFull {
			s.abuse.counts[why].Add(1)
			s.Penalize(p, OverLimitPenalty, "lineage requests over the limit ("+why+")")
		}
		s.refuseLineage(st)
		return
	}
	defer ls.limit.done(p)
	start := time.Now()
	st.SetDeadline(start.Add(LineageTimeout))
	st.SetReadDeadline(start.Add(lineageRequest))
	var id dna.ID
	if _, err := io.ReadFull(st, id[:]); err != nil {
		st.Reset()
		if isTimeout(err) {
			s.abuse.counts[LimitLineageIdle].Add(1)
			s.Penalize(p, StallPenalty, fmt.Sprintf("opened a lineage stream and sent no request within %v", lineageRequest))
		}
		return
	}
	// A serving slot is taken only once the request is in, as for
	// weights: streams that open and wait hold none.
	select {
	case ls.serving <- struct{}{}:
		defer func() { <-ls.serving }()
	default:
		s.abuse.counts[LimitLineageBusy].Add(1)
		s.refuseLineage(st)
		return
	}
	steps, err := ls.src.Lineage(id, MaxLineageSteps)
	var resp []byte
	switch {
	case errors.Is(err, ErrLineageNotFound):
		resp = []byte{statusNotFound}
	case err != nil:
		s.log.Warn("could not read a lineage to serve", "id", id.Short(), "peer", p, "err", err)
		resp = []byte{statusUnavailable}
	default:
		if len(steps) > MaxLineageSteps {
			steps = steps[len(steps)-MaxLineageSteps:]
		}
		if resp, err = EncodeLineage(steps); err != nil {
			s.log.Warn("could not encode a lineage to serve", "id", id.Short(), "peer", p, "err", err)
			resp = []byte{statusUnavailable}
		}
	}
	if _, err := st.Write(resp); err != nil {
		st.Reset()
		return
	}
	st.Close()
	s.log.Debug("served lineage", "id", id.Short(), "peer", p, "status", resp[0], "steps", len(steps))
}

// refuseLineage answers "unavailable" without reading the request.
func (s *Swarm) refuseLineage(st network.Stream) {
	st.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := st.Write([]byte{statusUnavailable}); err != nil {
		st.Reset()
		return
	}
	st.Close()
}

// FetchLineage asks peer from for the ancestry of individual id, in one
// attempt bounded by LineageTimeout (and ctx). It reads at most the largest
// valid answer, and returns the chain, oldest first, only if it decodes and
// holds together: it ends with id, every step's parent is the step before
// it (or the step before is the same individual and it is an immigrant).
// It fails with ErrLineageNotFound when the peer does not hold id, and with
// an error wrapping ErrBadLineage for a reply that breaks the protocol.
func (s *Swarm) FetchLineage(ctx context.Context, from peer.ID, id dna.ID) ([]LineageStep, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	steps, err := s.fetchLineage(ctx, from, id)
	if errors.Is(err, ErrBadLineage) {
		s.abuse.counts[LimitLineageBad].Add(1)
		s.Penalize(from, BadReplyPenalty, fmt.Sprintf("answered the lineage of %s against the protocol: %v", id.Short(), err))
	}
	if err != nil {
		return nil, fmt.Errorf("gossip: fetch lineage %s from %s: %w", id.Short(), from, err)
	}
	return steps, nil
}

func (s *Swarm) fetchLineage(ctx context.Context, from peer.ID, id dna.ID) ([]LineageStep, error) {
	ctx, cancel := context.WithTimeout(ctx, LineageTimeout)
	defer cancel()
	var steps []LineageStep
	err := s.ask(ctx, from, LineageProtocol, lineageService, id, func(r io.Reader) (err error) {
		steps, err = ReadLineage(r, id)
		return err
	})
	return steps, err
}

// EncodeLineage frames a chain as a statusOK answer on LineageProtocol. It
// refuses a chain that ReadLineage would not accept as framed: empty,
// longer than MaxLineageSteps, or with a step out of bounds.
func EncodeLineage(steps []LineageStep) ([]byte, error) {
	if len(steps) == 0 || len(steps) > MaxLineageSteps {
		return nil, fmt.Errorf("gossip: a lineage of %d steps, want 1..%d", len(steps), MaxLineageSteps)
	}
	b := make([]byte, 0, 5+len(steps)*(stepFixed+48))
	b = append(b, statusOK)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(steps)))
	for i, st := range steps {
		if err := checkStep(st); err != nil {
			return nil, fmt.Errorf("gossip: lineage step %d: %w", i, err)
		}
		b = append(b, st.ID[:]...)
		b = append(b, st.Parent[:]...)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(st.Fitness))
		b = binary.LittleEndian.AppendUint64(b, uint64(st.Born.UnixNano()))
		var flags byte
		if st.Immigrant {
			flags = 1
		}
		b = append(b, flags, byte(len(st.Mutation)))
		b = append(b, st.Mutation...)
		b = append(b, byte(len(st.Node)))
		b = append(b, st.Node...)
	}
	return b, nil
}

// checkStep checks the bounds of one step's fields.
func checkStep(st LineageStep) error {
	switch {
	case st.ID.IsZero():
		return errors.New("the zero ID")
	case math.IsNaN(st.Fitness) || st.Fitness < 0 || st.Fitness > 1:
		return fmt.Errorf("fitness %v outside [0, 1]", st.Fitness)
	case len(st.Mutation) > maxStepMutation:
		return fmt.Errorf("a mutation name of %d bytes, the limit is %d", len(st.Mutation), maxStepMutation)
	case len(st.Node) == 0 || len(st.Node) > maxStepNode:
		return fmt.Errorf("a node ID of %d bytes, want 1..%d", len(st.Node), maxStepNode)
	}
	for _, c := range []byte(st.Mutation) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '(' || c == ')') {
			return fmt.Errorf("mutation name %q has a byte outside [a-z0-9()-]", st.Mutation)
		}
	}
	if _, err := peer.IDFromBytes([]byte(st.Node)); err != nil {
		return fmt.Errorf("node ID: %w", err)
	}
	return nil
}

// ReadLineage reads a peer's answer to a lineage request for id. It reads
// at most the largest valid answer (about 733 KB) whatever the peer sends,
// and returns the chain only if every step is within bounds and the chain
// holds together (see FetchLineage). A reply that breaks the protocol
// fails with an error wrapping ErrBadLineage; one that ends early, with
// the read's error.
func ReadLineage(r io.Reader, id dna.ID) ([]LineageStep, error) {
	var hdr [1]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	switch hdr[0] {
	case statusOK:
	case statusNotFound:
		return nil, ErrLineageNotFound
	case statusUnavailable:
		return nil, errLineageBusy
	default:
		return nil, fmt.Errorf("%w: unknown status %d", ErrBadLineage, hdr[0])
	}
	var cb [4]byte
	if _, err := io.ReadFull(r, cb[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(cb[:])
	if n == 0 || n > MaxLineageSteps {
		return nil, fmt.Errorf("%w: %d steps, want 1..%d", ErrBadLineage, n, MaxLineageSteps)
	}
	steps := make([]LineageStep, 0, min(n, 256)) // grows only as bytes arrive
	var fixed [stepFixed - 1]byte                // through the mutation's length
	var buf [255]byte
	for i := range n {
		if _, err := io.ReadFull(r, fixed[:]); err != nil {
			return nil, err
		}
		var st LineageStep
		copy(st.ID[:], fixed[0:32])
		copy(st.Parent[:], fixed[32:64])
		st.Fitness = math.Float64frombits(binary.LittleEndian.Uint64(fixed[64:72]))
		st.Born = time.Unix(0, int64(binary.LittleEndian.Uint64(fixed[72:80]))).UTC()
		flags, ml := fixed[80], int(fixed[81])
		if flags&^1 != 0 {
			return nil, fmt.Errorf("%w: step %d: unknown flags %#x", ErrBadLineage, i, flags)
		}
		st.Immigrant = flags&1 != 0
		if ml > maxStepMutation {
			return nil, fmt.Errorf("%w: step %d: a mutation name of %d bytes, the limit is %d", ErrBadLineage, i, ml, maxStepMutation)
		}
		if _, err := io.ReadFull(r, buf[:ml+1]); err != nil {
			return nil, err
		}
		st.Mutation = string(buf[:ml])
		nl := int(buf[ml])
		if nl == 0 || nl > maxStepNode {
			return nil, fmt.Errorf("%w: step %d: a node ID of %d bytes, want 1..%d", ErrBadLineage, i, nl, maxStepNode)
		}
		if _, err := io.ReadFull(r, buf[:nl]); err != nil {
			return nil, err
		}
		st.Node = peer.ID(bytes.Clone(buf[:nl]))
		if err := checkStep(st); err != nil {
			return nil, fmt.Errorf("%w: step %d: %w", ErrBadLineage, i, err)
		}
		steps = append(steps, st)
	}
	if err := CheckChain(id, steps); err != nil {
		return nil, err
	}
	return steps, nil
}

// CheckChain reports, wrapping ErrBadLineage, why steps is not the chain
// of id: empty or too long, not ending with id, or with a step that does
// not follow the one before it (its parent, or the same individual
// arriving as an immigrant).
func CheckChain(id dna.ID, steps []LineageStep) error {
	if len(steps) == 0 || len(steps) > MaxLineageSteps {
		return fmt.Errorf("%w: %d steps, want 1..%d", ErrBadLineage, len(steps), MaxLineageSteps)
	}
	if last := steps[len(steps)-1].ID; last != id {
		return fmt.Errorf("%w: the chain ends with %s, not the requested %s", ErrBadLineage, last.Short(), id.Short())
	}
	for i := 1; i < len(steps); i++ {
		a, b := steps[i-1], steps[i]
		hop := b.ID == a.ID && b.Immigrant && b.Parent == a.Parent && b.Node != a.Node
		if b.Parent != a.ID && !hop {
			return fmt.Errorf("%w: step %d (%s, parent %s) does not follow step %d (%s)", ErrBadLineage, i, b.ID.Short(), b.Parent.Short(), i-1, a.ID.Short())
		}
	}
	return nil
}
