package gossip

import (
	"context"
	"io"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/evoswarm/evoswarm/island/dna"
)

// ask makes one request of the weights and lineage protocols: it opens a
// stream to from for proto, accounted to the resource manager's service,
// sends the 32-byte id, closes its side for writing and hands the answer
// to read. ctx's deadline, if any, bounds the whole exchange, and its
// cancellation ends it. The stream is closed when read succeeds and reset
// otherwise, so a broken answer frees the peer's resources at once.
func (s *Swarm) ask(ctx context.Context, from peer.ID, proto protocol.ID, service string, id dna.ID, read func(io.Reader) error) error {
	st, err := s.host.NewStream(ctx, from, proto)
	if err != nil {
		return err
	}
	// A cancelled ctx (a node stopping) ends a blocked read at once: the
	// deadline alone would hold it for up to the fetch's timeout.
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	err = st.Scope().SetService(service)
	if err == nil {
		if d, has := ctx.Deadline(); has {
			st.SetDeadline(d)
		}
		_, err = st.Write(id[:])
	}
	if err == nil {
		err = st.CloseWrite()
	}
	if err == nil {
		err = read(st)
	}
	if err != nil {
		st.Reset()
		return err
	}
	st.Close()
	return nil
}
