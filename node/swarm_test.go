package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/gossip"
	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// liarWeights serves one blob for any ID.
type liarWeights []byte

func (w liarWeights) Weights(dna.ID) ([]byte, error) { return w, nil }

func loopbackSwarm(t *testing.T, exp string, w gossip.WeightsSource, bootstrap ...string) *gossip.Swarm {
	t.Helper()
	return loopbackSwarmWith(t, exp, w, nil, bootstrap...)
}

// loopbackSwarmWith is loopbackSwarm with the configuration changed by mod.
func loopbackSwarmWith(t *testing.T, exp string, w gossip.WeightsSource, mod func(*gossip.Config), bootstrap ...string) *gossip.Swarm {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := gossip.LoopbackConfig()
	c.ExperimentID, c.Identity, c.Weights, c.Bootstrap = exp, k, w, bootstrap
	if mod != nil {
		mod(&c)
	}
	c.ScoreInspectInterval = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := gossip.New(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestLiarIsRemeasuredAndPenalised: a peer that claims 99% for the trivial
// initial genome gets its migrant re-measured (the claim is never used), and
// its score on the receiver falls.
func TestLiarIsRemeasuredAndPenalised(t *testing.T) {
	e, _ := Preset("smoke")
	exp := e.FullID()
	honest := loopbackSwarm(t, exp, nil)
	w := &train.Weights{Tensors: map[string]*train.Tensor{"fc/3/weight": {Shape: []int{10, 1}, Data: make([]float32, 10)}, "fc/3/bias": {Shape: []int{10}, Data: make([]float32, 10)}}}
	blob, err := w.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	liar := loopbackSwarm(t, exp, liarWeights(blob), honest.Addrs()[0])
	x := &exchange{
		sw: honest, exp: e, self: honest.ID(), in: make(chan island.Migrant, 4), recent: map[dna.ID][]byte{},
		measure: func(context.Context, *dna.Genome, []byte) (float64, error) { return 0.10, nil },
		log:     testLog(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go x.run(ctx)

	before := honest.Score(liar.ID())
	var got island.Migrant
	for i := 0; ; i++ {
		if err := liar.Publish(ctx, initialAnnouncement(exp, i, 0.99, blob, liar.ID())); err != nil {
			t.Fatal(err)
		}
		select {
		case got = <-x.Receive():
		case <-time.After(500 * time.Millisecond):
			if ctx.Err() != nil {
				t.Fatal("no migrant arrived from the liar")
			}
			continue
		}
		break
	}
	if got.Fitness != 0.10 || got.Claimed != 0.99 || got.Origin != liar.ID().String() {
		t.Errorf("immigrant fitness %v, claimed %v, origin %s; want the measured 0.10 to compete, the claim 0.99 only recorded", got.Fitness, got.Claimed, got.Origin)
	}
	if x.Penalized.Load() == 0 {
		t.Fatal("the liar was not penalised")
	}
	if after := scoreAfterFall(honest, liar.ID(), before); after >= before {
		t.Errorf("the liar's score went from %.1f to %.1f; want it to fall", before, after)
	}
}

// stallingWeights never serves: each request blocks until the test ends.
type stallingWeights struct {
	n    atomic.Int64
	done chan struct{}
}

func (w *stallingWeights) Weights(dna.ID) ([]byte, error) {
	w.n.Add(1)
	<-w.done
	return nil, errors.New("stopped")
}

// TestUnreachableSenderIsPassedOver: over a real loopback swarm, a sender
// whose weights never come (its server stalls every request) costs the
// receiver one fetch, which times out; its later announcements are passed
// over for the backoff's minute, while another sender's are fetched and
// re-measured. The receiver does not penalise it.
func TestUnreachableSenderIsPassedOver(t *testing.T) {
	e, _ := Preset("smoke")
	exp := e.FullID()
	recv := loopbackSwarmWith(t, exp, nil, func(c *gossip.Config) {
		c.FetchTimeout, c.FetchAttempts = 300*time.Millisecond, 1
	})
	w := &train.Weights{Tensors: map[string]*train.Tensor{"fc/3/weight": {Shape: []int{10, 1}, Data: make([]float32, 10)}, "fc/3/bias": {Shape: []int{10}, Data: make([]float32, 10)}}}
	blob, err := w.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	stall := &stallingWeights{done: make(chan struct{})}
	defer close(stall.done)
	staller := loopbackSwarm(t, exp, stall, recv.Addrs()[0])
	served := &countingWeights{blob: blob}
	honest := loopbackSwarm(t, exp, served, recv.Addrs()[0])
	nb := island.NewNeighbourhood(island.Topology{Kind: island.TopologyAll}, island.NewRoster(0), 0)
	adm, err := island.NewAdmission(recv.ID().String(), island.AdmissionPolicy{}, nb)
	if err != nil {
		t.Fatal(err)
	}
	x := &exchange{
		sw: recv, exp: e, self: recv.ID(), in: make(chan island.Migrant, 16), recent: map[dna.ID][]byte{}, adm: adm,
		measure: func(context.Context, *dna.Genome, []byte) (float64, error) { return 0.5, nil },
		log:     testLog(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	go x.run(ctx)
	go func() {
		for range x.Receive() {
		}
	}()
	for _, s := range []*gossip.Swarm{staller, honest} {
		for !slices.Contains(s.TopicPeers(), recv.ID()) || !slices.Contains(recv.TopicPeers(), s.ID()) {
			if ctx.Err() != nil {
				t.Fatal("the senders and the receiver never saw each other on the topic")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	before := recv.Score(staller.ID())
	// The staller's first announcement: admitted, fetched, timed out.
	for i := 0; adm.Stats(time.Now()).Unreachable == 0; i++ {
		if ctx.Err() != nil {
			t.Fatalf("no fetch from the staller failed: %+v", adm.Stats(time.Now()))
		}
		if i%20 == 0 {
			if err := staller.Publish(ctx, initialAnnouncement(exp, i/20, 0.9, blob, staller.ID())); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Then both announce, the staller with the higher claim, one a second
	// each (the rate peers validate a signer at).
	for i := range 3 {
		if err := staller.Publish(ctx, initialAnnouncement(exp, 100+i, 0.9, blob, staller.ID())); err != nil {
			t.Fatal(err)
		}
		if err := honest.Publish(ctx, initialAnnouncement(exp, 200+i, 0.6, blob, honest.ID())); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1200 * time.Millisecond)
	}
	for x.Remeasured.Load() < 3 {
		if ctx.Err() != nil {
			t.Fatalf("re-measured %d of the honest sender's 3 migrants", x.Remeasured.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := adm.Stats(time.Now())
	if got := stall.n.Load(); got > 1 {
		t.Errorf("the staller was asked for weights %d times within its backoff, want at most 1", got)
	}
	if st.Unreachable != 1 || st.PassedOver == 0 || served.n.Load() != 3 {
		t.Errorf("unreachable %d, passed over %d, honest fetches %d; want 1, some, 3", st.Unreachable, st.PassedOver, served.n.Load())
	}
	if after := recv.Score(staller.ID()); after < before {
		t.Errorf("the staller's score fell from %.1f to %.1f; an unreachable sender is not penalised", before, after)
	}
}

// TestBogusMigrantIsPenalisedAndRefunded: weights that do not fit the
// announced genome are the sender's fault: no immigrant, the admission
// counted bogus and refunded, the sender penalised.
func TestBogusMigrantIsPenalisedAndRefunded(t *testing.T) {
	e, _ := Preset("smoke")
	exp := e.FullID()
	honest := loopbackSwarm(t, exp, nil)
	w := &train.Weights{Tensors: map[string]*train.Tensor{"fc/3/bias": {Shape: []int{10}, Data: make([]float32, 10)}}}
	blob, err := w.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	cheat := loopbackSwarm(t, exp, liarWeights(blob), honest.Addrs()[0])
	nb := island.NewNeighbourhood(island.Topology{Kind: island.TopologyAll}, island.NewRoster(0), 0)
	adm, err := island.NewAdmission(honest.ID().String(), island.AdmissionPolicy{}, nb)
	if err != nil {
		t.Fatal(err)
	}
	measured := make(chan struct{}, 16)
	x := &exchange{
		sw: honest, exp: e, self: honest.ID(), in: make(chan island.Migrant, 4), recent: map[dna.ID][]byte{}, adm: adm,
		measure: func(context.Context, *dna.Genome, []byte) (float64, error) {
			measured <- struct{}{}
			return 0, fmt.Errorf("train: %w: they lack 1 of the genome's tensors", train.ErrWeightsMismatch)
		},
		log: testLog(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go x.run(ctx)

	before := honest.Score(cheat.ID())
	for i := 0; adm.Stats(time.Now()).Bogus == 0; i++ {
		if ctx.Err() != nil {
			t.Fatal("no bogus migrant counted in 30 s")
		}
		if err := cheat.Publish(ctx, initialAnnouncement(exp, i, 0.9, blob, cheat.ID())); err != nil {
			t.Fatal(err)
		}
		select {
		case <-measured:
			time.Sleep(50 * time.Millisecond) // the ticket is given back after the measure returns
		case <-time.After(500 * time.Millisecond):
		}
	}
	st := adm.Stats(time.Now())
	if st.Refunded < st.Bogus || st.Remeasured != 0 || x.Penalized.Load() == 0 {
		t.Errorf("admission %+v, penalised %d: want bogus ones refunded, none counted as re-measured, the sender penalised", st, x.Penalized.Load())
	}
	select {
	case m := <-x.Receive():
		t.Errorf("a bogus migrant became an immigrant: %+v", m.Genome.ID())
	default:
	}
	if after := scoreAfterFall(honest, cheat.ID(), before); after >= before {
		t.Errorf("the cheat's score went from %.1f to %.1f; want it to fall", before, after)
	}
}

// initialAnnouncement is sender's announcement of the i-th initial genome
// (a distinct nonce each) with weights blob and the fitness claimed.
func initialAnnouncement(exp string, i int, claimed float64, blob []byte, sender peer.ID) gossip.Announcement {
	g := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	g.Nonce = uint64(i + 1)
	digest, _ := train.Digest(blob)
	return gossip.Announcement{Experiment: exp, Genome: g, ID: g.ID(), Fitness: claimed, WeightsDigest: digest,
		WeightsSize: int64(len(blob)), Origin: sender, SentAt: time.Now()}
}

// scoreAfterFall waits up to 5 s for p's score on s to fall below before,
// and returns it.
func scoreAfterFall(s *gossip.Swarm, p peer.ID, before float64) float64 {
	for deadline := time.Now().Add(5 * time.Second); s.Score(p) >= before && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	return s.Score(p)
}

func testLog(*testing.T) *slog.Logger { return slog.New(slog.DiscardHandler) }
