package gossip

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

// The tests run real libp2p hosts on 127.0.0.1 only (LoopbackConfig: no
// DHT, mDNS or NAT traversal unless a test is about them). Set
// GOSSIP_TEST_LOG=1 to see the swarms' debug logs.

const testExperiment = "exp-0123456789abcdef"

func testLogger() *slog.Logger {
	if os.Getenv("GOSSIP_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testConfig returns a loopback configuration with short timings.
func testConfig(t testing.TB) Config {
	c := LoopbackConfig()
	c.ExperimentID = testExperiment
	c.Identity = testKey(t)
	c.ScoreInspectInterval = 200 * time.Millisecond
	c.FetchBackoff = 50 * time.Millisecond
	c.FetchTimeout = 5 * time.Second
	c.Logger = testLogger()
	return c
}

// newSwarm starts a swarm from testConfig, adjusted by each edit, and
// closes it when the test ends.
func newSwarm(t testing.TB, edits ...func(*Config)) *Swarm {
	t.Helper()
	c := testConfig(t)
	for _, e := range edits {
		e(&c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := New(ctx, c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func addrInfo(t testing.TB, s *Swarm) peer.AddrInfo {
	t.Helper()
	return peer.AddrInfo{ID: s.ID(), Addrs: s.Host().Addrs()}
}

func connect(t testing.TB, a, b *Swarm) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, addrInfo(t, b)); err != nil {
		t.Fatalf("connect %s -> %s: %v", a.ID(), b.ID(), err)
	}
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitTopicPeers waits until s sees n peers on the topic.
func waitTopicPeers(t testing.TB, s *Swarm, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, "topic peers", func() bool { return len(s.TopicPeers()) >= n })
}

// testGenome returns a valid initial genome with a fresh random nonce, so
// that every call yields a new individual.
func testGenome(t testing.TB) *dna.Genome {
	t.Helper()
	g := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, dna.PaperLearningRate)
	var b [8]byte
	rand.Read(b[:])
	for i, x := range b {
		g.Nonce |= uint64(x) << (8 * i)
	}
	return g
}

// testWeights returns a weights blob as gossip sees one (opaque bytes
// ending with the SHA-256 of what precedes them, as train encodes weights)
// and its digest.
func testWeights(t testing.TB) ([]byte, [32]byte) {
	t.Helper()
	body := []byte("EVWT test weights: opaque to gossip but for the digest that ends them")
	d := sha256.Sum256(body)
	return append(body, d[:]...), d
}

// testAnnouncement returns a valid announcement of a new individual.
func testAnnouncement(t testing.TB) Announcement {
	t.Helper()
	blob, d := testWeights(t)
	return Announcement{Genome: testGenome(t), Fitness: 0.5, WeightsDigest: d, WeightsSize: int64(len(blob))}
}

// recvFrom collects migrants from s until it has one from each of want,
// or fails after timeout.
func recvFrom(t testing.TB, s *Swarm, want map[peer.ID]dna.ID, timeout time.Duration) map[peer.ID]Received {
	t.Helper()
	got := make(map[peer.ID]Received)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for len(got) < len(want) {
		select {
		case r, ok := <-s.Migrants():
			if !ok {
				t.Fatalf("%s: migrants channel closed", s.ID())
			}
			if id, ok := want[r.From]; ok && id == r.ID {
				got[r.From] = r
			}
		case <-deadline.C:
			t.Fatalf("%s: got %d of %d migrants after %v", s.ID(), len(got), len(want), timeout)
		}
	}
	return got
}
