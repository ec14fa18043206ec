package node

import (
	"context"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/gossip"
	"github.com/evoswarm/evoswarm/island/dna"
)

// runNode runs the node in dir until stop is called, and returns it once
// it is ready.
func runNode(t *testing.T, dir string) (n *Node, ready Ready, stop func()) {
	t.Helper()
	n, err := Open(dir, Options{Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	readyc := make(chan Ready, 1)
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, func(r Ready) { readyc <- r }) }()
	select {
	case ready = <-readyc:
	case err := <-done:
		t.Fatalf("the node stopped before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the node was not ready in 30 s")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && ctx.Err() == nil {
				t.Errorf("Run: %v", err)
			}
			if err := n.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return n, ready, stop
}

func trained(t *testing.T, n *Node) uint64 {
	t.Helper()
	st, err := n.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st.TrainedTotal
}

// TestNodeKeepsEvolvingUnderAbuse: a real node (synthetic data, loopback
// swarm, Badger on disk) is flooded with weights requests from 8 streams
// at once for at most 5 s. It goes on training children all along, its
// heap stays bounded, and the flooder loses score and is banned. The node
// is stopped and started again: the flooder is still refused.
func TestNodeKeepsEvolvingUnderAbuse(t *testing.T) {
	data := t.TempDir()
	writeIDX(t, data, 12, 12, 600, 100)
	dir := t.TempDir()
	exp, err := Preset("smoke")
	if err != nil {
		t.Fatal(err)
	}
	exp.Data = data
	if _, err := Init(dir, exp); err != nil {
		t.Fatal(err)
	}
	if err := SaveConfig(dir, LoopbackConfig()); err != nil {
		t.Fatal(err)
	}
	n, ready, stop := runNode(t, dir)
	sw := n.ex.sw
	attacker, err := libp2p.New(libp2p.Identity(newKey(t)), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	ai, err := peer.AddrInfoFromString(ready.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := attacker.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	until(t, 20*time.Second, "a first child", func() bool { return trained(t, n) > 0 })
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	before := trained(t, n)

	var sent, answered atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(5 * time.Second)
	start0 := time.Now()
	for range 8 {
		wg.Go(func() {
			for fails := 0; time.Now().Before(end) && sent.Add(1) <= 4000 && fails < 10; {
				if flood(ctx, attacker, ai.ID) {
					answered.Add(1)
					fails = 0
				} else {
					fails++
				}
			}
		})
	}
	wg.Wait()
	attackTime := time.Since(start0)
	banned := sw.Banned(attacker.ID())
	score := sw.Score(attacker.ID())
	// Training goes on: more children within 10 s of the attack's end.
	until(t, 10*time.Second, "children trained during and after the flood", func() bool { return trained(t, n) >= before+3 })
	after := trained(t, n)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	ab := sw.Abuse()
	if !banned {
		t.Fatalf("the flooder is not banned after %d requests (%d answered); score %.0f, refused %v", sent.Load(), answered.Load(), score, ab.Refused)
	}
	if score > -gossip.DefaultConfig().MaxPenalty {
		t.Errorf("the flooder's score is %.0f", score)
	}
	if m1.HeapInuse > m0.HeapInuse+64<<20 {
		t.Errorf("heap in use grew from %d to %d MiB", m0.HeapInuse>>20, m1.HeapInuse>>20)
	}
	t.Logf("node under a weights flood: %d requests sent, %d answered (served %d, refused over the rate %d, over the concurrency cap %d) in %v; banned, score %.0f; children trained %d before, %d after; heap in use %d -> %d MiB",
		min(sent.Load(), 4000), answered.Load(), ab.Served, ab.Refused[gossip.LimitServeRate], ab.Refused[gossip.LimitServePeer], attackTime.Round(time.Millisecond), score, before, after, m0.HeapInuse>>20, m1.HeapInuse>>20)
	stop()

	// Restarted, the node still refuses the flooder.
	n, ready, stop = runNode(t, dir)
	defer stop()
	if !n.ex.sw.Banned(attacker.ID()) {
		t.Fatal("the ban did not survive the node's restart")
	}
	ai, _ = peer.AddrInfoFromString(ready.Addrs[0])
	cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
	defer ccancel()
	if err := attacker.Connect(cctx, *ai); err == nil {
		time.Sleep(100 * time.Millisecond)
		if flood(ctx, attacker, ai.ID) {
			t.Error("the restarted node answered the banned flooder")
		}
	}
}

// flood sends one weights request for a random ID and reports whether an
// answer came back.
func flood(ctx context.Context, h host.Host, to peer.ID) bool {
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := h.NewStream(rctx, to, gossip.WeightsProtocol)
	if err != nil {
		return false
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(time.Second))
	var id dna.ID
	id[0] = byte(time.Now().UnixNano())
	if _, err := st.Write(id[:]); err != nil {
		return false
	}
	st.CloseWrite()
	b, _ := io.ReadAll(st)
	return len(b) > 0
}
