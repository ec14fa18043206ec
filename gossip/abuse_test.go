package gossip

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

// Abuse of the network side (issue #16, item 4): real libp2p hosts on
// 127.0.0.1, every attack loop bounded in count and time. The figures each
// test logs are those docs/hardening.md quotes ("Network abuse").

// rawHost is an attacker that speaks libp2p but runs no pubsub: it only
// opens weights streams.
func rawHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(testKey(t)), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// askWeights sends one weights request for id and reads the whole answer.
func askWeights(ctx context.Context, h host.Host, to peer.ID, id dna.ID) (status byte, n int, err error) {
	st, err := h.NewStream(ctx, to, WeightsProtocol)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	if _, err := st.Write(id[:]); err != nil {
		st.Reset()
		return 0, 0, err
	}
	st.CloseWrite()
	b, err := io.ReadAll(st)
	if len(b) == 0 {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, err
	}
	return b[0], len(b), err
}

// bigWeights returns a blob of n bytes ending with the SHA-256 of the rest.
func bigWeights(n int) ([]byte, [32]byte) {
	body := bytes.Repeat([]byte{0x5a}, n-sha256.Size)
	d := sha256.Sum256(body)
	return append(body, d[:]...), d
}

// rssKiB returns the process's resident set and its peak, from /proc.
func rssKiB() (rss, peak int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1, -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			peak = v
		}
	}
	return rss, peak
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// settleGoroutines waits up to 3 s for the goroutine count to come down
// to at most limit, and returns it.
func settleGoroutines(limit int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 150 && n > limit; i++ {
		time.Sleep(20 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// TestWeightsFloodIsLimited: a peer floods /evoswarm/weights/1 with
// requests from 8 streams at once. The victim serves it no more than its
// rate and concurrency limits allow, penalises each refused request, bans
// it once the penalties pass MaxPenalty, and all along serves an honest
// peer's fetches.
func TestWeightsFloodIsLimited(t *testing.T) {
	blob, digest := testWeights(t)
	id := dna.ID{1}
	const rate, burst, perPeer = 5, 10, 2
	victim := newSwarm(t, func(c *Config) {
		c.Weights = &mapWeights{m: map[dna.ID][]byte{id: blob}}
		c.ServeRate, c.ServeBurst, c.ServePerPeer = rate, burst, perPeer
	})
	honest := newSwarm(t)
	connect(t, honest, victim)
	attacker := rawHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := attacker.Connect(ctx, addrInfo(t, victim)); err != nil {
		t.Fatal(err)
	}
	g0 := runtime.NumGoroutine()
	heap0 := heapInUse()

	// The honest peer fetches every 250 ms during the attack, within the
	// limits.
	var honestOK, honestFailed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 20 {
			fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
			got, err := honest.FetchWeights(fctx, victim.ID(), id, digest, len(blob))
			fcancel()
			if err == nil && bytes.Equal(got, blob) {
				honestOK.Add(1)
			} else {
				honestFailed.Add(1)
				t.Logf("honest fetch: %v", err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	})

	// The flood: at most 4000 requests or 5 s, from 8 streams at once; a
	// worker stops after 10 failures in a row (the victim refuses it).
	const maxRequests = 4000
	var sent, served, refused, failed atomic.Int64
	var bannedAt atomic.Int64 // requests sent when the ban was seen
	var scoreAtBan atomic.Value
	start := time.Now()
	attack := time.Now().Add(5 * time.Second)
	var peak atomic.Int64
	var attackers sync.WaitGroup
	for range 8 {
		attackers.Go(func() {
			fails := 0
			for time.Now().Before(attack) && sent.Add(1) <= maxRequests && fails < 10 {
				rctx, rcancel := context.WithTimeout(ctx, time.Second)
				status, _, err := askWeights(rctx, attacker, victim.ID(), id)
				rcancel()
				switch {
				case err != nil:
					failed.Add(1)
					fails++
				case status == statusOK:
					served.Add(1)
					fails = 0
				default:
					refused.Add(1)
					fails = 0
				}
				if g := int64(runtime.NumGoroutine()); g > peak.Load() {
					peak.Store(g)
				}
				if victim.Banned(attacker.ID()) && bannedAt.Load() == 0 {
					bannedAt.Store(sent.Load())
					scoreAtBan.Store(victim.Score(attacker.ID()))
				}
			}
		})
	}
	attackers.Wait()
	elapsed := time.Since(start)
	wg.Wait()
	heap1 := heapInUse()
	rss, hwm := rssKiB()
	g1 := settleGoroutines(g0 + 5)

	if !victim.Banned(attacker.ID()) {
		t.Fatalf("the flooder is not banned after %d requests (%d served, %d refused); score %.0f",
			sent.Load(), served.Load(), refused.Load(), victim.Score(attacker.ID()))
	}
	ab := victim.Abuse()
	over := ab.Refused[LimitServeRate] + ab.Refused[LimitServePeer]
	// Served at most the burst plus the rate over the attack.
	if limit := int64(burst + rate*elapsed.Seconds() + 1); served.Load() > limit {
		t.Errorf("served the flooder %d requests in %v; the limits allow %d", served.Load(), elapsed, limit)
	}
	if over < 200 {
		t.Errorf("%d requests refused over the limits; a ban needs more than 200", over)
	}
	if sc := victim.Score(attacker.ID()); sc > -DefaultConfig().MaxPenalty {
		t.Errorf("the flooder's score is %.0f, want below -MaxPenalty", sc)
	}
	if honestOK.Load() != 20 {
		t.Errorf("the honest peer got %d of 20 fetches during the flood (%d failed)", honestOK.Load(), honestFailed.Load())
	}
	if s := honest.Score(victim.ID()); s < 0 {
		t.Errorf("the honest side scores the victim %.0f", s)
	}
	if sc := victim.Score(honest.ID()); sc < 0 {
		t.Errorf("the honest peer lost score: %.0f", sc)
	}
	// Refused to reconnect.
	cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
	err := attacker.Connect(cctx, addrInfo(t, victim))
	ccancel()
	if err == nil && victim.Host().Network().Connectedness(attacker.ID()) == network.Connected {
		t.Error("the banned flooder reconnected")
	}
	if g1 > g0+5 {
		t.Errorf("%d goroutines after the flood, %d before", g1, g0)
	}
	sa, _ := scoreAtBan.Load().(float64)
	t.Logf("flood: %d requests in %v: %d served, %d refused, %d failed (after the ban); victim counted %d served, %d over the rate, %d over the concurrency cap, %d busy",
		min(sent.Load(), maxRequests), elapsed.Round(time.Millisecond), served.Load(), refused.Load(), failed.Load(),
		ab.Served, ab.Refused[LimitServeRate], ab.Refused[LimitServePeer], ab.Refused[LimitServeBusy])
	t.Logf("flood: banned after %d requests, score at the ban %.0f, now %.0f; honest fetches %d/20; goroutines %d before, peak %d, %d after; heap in use %.1f -> %.1f MiB; RSS %d MiB (peak %d MiB)",
		bannedAt.Load(), sa, victim.Score(attacker.ID()), honestOK.Load(), g0, peak.Load(), g1,
		float64(heap0)/(1<<20), float64(heap1)/(1<<20), rss>>10, hwm>>10)
}

// TestStalledWeightsStreamsAreCut: a peer opens weights streams and never
// reads the answer (8 MiB, more than a stream's flow-control window), or
// never finishes sending its request. Each such stream is reset after StallTimeout or
// RequestTimeout, its goroutine and slot are freed, the peer loses
// StallPenalty for each, and it is banned after about 20; an honest peer
// fetches the same 8 MiB meanwhile.
func TestStalledWeightsStreamsAreCut(t *testing.T) {
	blob, digest := bigWeights(8 << 20)
	id := dna.ID{7}
	const stall = 300 * time.Millisecond
	victim := newSwarm(t, func(c *Config) {
		c.Weights = &mapWeights{m: map[dna.ID][]byte{id: blob}}
		c.StallTimeout, c.RequestTimeout = stall, stall
		c.ServeBurst, c.ServePerPeer = 100, 4
	})
	honest := newSwarm(t)
	connect(t, honest, victim)
	attacker := rawHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := attacker.Connect(ctx, addrInfo(t, victim)); err != nil {
		t.Fatal(err)
	}
	g0 := runtime.NumGoroutine()
	heap0 := heapInUse()

	var held []network.Stream
	defer func() {
		for _, st := range held {
			st.Reset()
		}
	}()
	peak, rounds := 0, 0
	var honestErr error
	var honestDone sync.WaitGroup
	for ; rounds < 10 && !victim.Banned(attacker.ID()); rounds++ {
		// Each round: two streams that ask and never read, two that never
		// finish asking; they stay open on the attacker's side.
		for i := range 4 {
			st, err := attacker.NewStream(ctx, victim.ID(), WeightsProtocol)
			if err != nil {
				break // banned meanwhile
			}
			if i < 2 {
				st.Write(id[:])
			} else {
				st.Write(id[:5]) // a slow-loris request: it never ends
			}
			held = append(held, st)
		}
		if rounds == 1 {
			honestDone.Go(func() {
				got, err := honest.FetchWeights(ctx, victim.ID(), id, digest, len(blob))
				if err == nil && !bytes.Equal(got, blob) {
					err = errors.New("wrong bytes")
				}
				honestErr = err
			})
		}
		time.Sleep(stall / 2)
		peak = max(peak, runtime.NumGoroutine())
		want := uint64(4 * (rounds + 1))
		waitFor(t, 5*time.Second, "the victim to cut the round's streams", func() bool {
			a := victim.Abuse().Refused
			return a[LimitStalled]+a[LimitNoRequest] >= want || victim.Banned(attacker.ID())
		})
	}
	honestDone.Wait()
	heap1 := heapInUse()
	rss, hwm := rssKiB()
	g1 := settleGoroutines(g0 + 5)
	ab := victim.Abuse()

	if honestErr != nil {
		t.Errorf("the honest fetch during the attack: %v", honestErr)
	}
	if !victim.Banned(attacker.ID()) {
		t.Fatalf("not banned after %d rounds: %d stalled, %d silent; score %.0f", rounds, ab.Refused[LimitStalled], ab.Refused[LimitNoRequest], victim.Score(attacker.ID()))
	}
	if ab.Refused[LimitStalled] == 0 || ab.Refused[LimitNoRequest] == 0 {
		t.Errorf("stalled %d, silent %d: want both cut", ab.Refused[LimitStalled], ab.Refused[LimitNoRequest])
	}
	if sc := victim.Score(attacker.ID()); sc > -DefaultConfig().MaxPenalty {
		t.Errorf("score %.0f, want below -MaxPenalty", sc)
	}
	// Nothing of the attacker's is still being served.
	victim.serveLimit.mu.Lock()
	active := 0
	if b, ok := victim.serveLimit.m[attacker.ID()]; ok {
		active = b.active
	}
	victim.serveLimit.mu.Unlock()
	if active != 0 || len(victim.serving) != 0 {
		t.Errorf("%d of the attacker's requests and %d slots still in progress", active, len(victim.serving))
	}
	if g1 > g0+5 {
		t.Errorf("%d goroutines after the attack, %d before: the cut streams' goroutines were not released", g1, g0)
	}
	if heap1 > heap0+32<<20 {
		t.Errorf("heap in use grew from %d to %d MiB", heap0>>20, heap1>>20)
	}
	t.Logf("stall: %d rounds, %d streams opened and never read: %d cut as stalled, %d as silent; banned, score %.0f; honest 8 MiB fetch ok; goroutines %d before, peak %d, %d after; heap in use %.1f -> %.1f MiB; RSS %d MiB (peak %d MiB)",
		rounds, len(held), ab.Refused[LimitStalled], ab.Refused[LimitNoRequest], victim.Score(attacker.ID()),
		g0, peak, g1, float64(heap0)/(1<<20), float64(heap1)/(1<<20), rss>>10, hwm>>10)
}

// TestRepeatedBudgetAnnouncements: rogues announce a genome right at the
// experiment's budget (its parameters exactly Bounds.MaxParams, its weights
// exactly MaxWeightsBytes) over and over: one the same individual each
// time (new bytes, new send time), the other a new individual each time.
// The victim delivers the first once and rejects the rest as replays,
// delivers at most the rate limit's burst of the second and ignores the
// rest before decoding them; both rogues lose score and are banned; the
// replay cache, the migrants delivered and the heap stay bounded; an
// honest node's migrants still arrive.
func TestRepeatedBudgetAnnouncements(t *testing.T) {
	base := testGenome(t)
	bounds := dna.DefaultBounds()
	bounds.MaxParams = base.Params() // right at the budget
	const maxW = 1 << 20
	edit := func(c *Config) { c.Bounds, c.MaxWeightsBytes, c.BanStrikes = bounds, maxW, 1 }
	victim := newSwarm(t, edit)
	honest := newSwarm(t, edit)
	connect(t, honest, victim)
	waitTopicPeers(t, victim, 1)
	same, fresh := newRogue(t, DefaultMaxMessageSize), newRogue(t, DefaultMaxMessageSize)
	same.join(t, []*Swarm{victim})
	fresh.join(t, []*Swarm{victim})
	g0 := runtime.NumGoroutine()
	heap0 := heapInUse()
	cfg := testConfig(t)

	var mu sync.Mutex
	got := map[peer.ID]int{}
	stop := make(chan struct{})
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			select {
			case r := <-victim.Migrants():
				mu.Lock()
				got[r.From]++
				mu.Unlock()
			case <-stop:
				return
			}
		}
	})

	ann := func(r *rogue, g *dna.Genome) []byte {
		a := r.announcement(t)
		a.Genome, a.WeightsSize = g, maxW
		return encodeAnn(t, a)
	}
	const maxRounds = 150
	start := time.Now()
	n := 0
	for i := range maxRounds {
		if victim.Banned(same.id) && victim.Banned(fresh.id) {
			break
		}
		n++
		same.publish(t, ann(same, base)) // the same individual, new bytes
		g := base.Clone()
		g.Nonce = uint64(i + 1)
		fresh.publish(t, ann(fresh, g))
		time.Sleep(3 * time.Millisecond)
	}
	waitFor(t, 5*time.Second, "both rogues banned", func() bool {
		return victim.Banned(same.id) && victim.Banned(fresh.id)
	})
	elapsed := time.Since(start)
	time.Sleep(300 * time.Millisecond)
	heap1 := heapInUse()
	rss, hwm := rssKiB()

	// Honest traffic still flows.
	a := testAnnouncement(t)
	a.WeightsSize = maxW
	a.Genome.Nonce = base.Nonce + 1<<40
	if err := honest.Publish(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the honest migrant", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got[honest.ID()] == 1
	})
	close(stop)
	reader.Wait()
	g1 := settleGoroutines(g0 + 5)

	mu.Lock()
	defer mu.Unlock()
	rej, ab := victim.Rejections(), victim.Abuse()
	if got[same.id] != 1 {
		t.Errorf("delivered %d copies of the repeated individual, want 1", got[same.id])
	}
	if rej[ReasonReplay] == 0 {
		t.Error("no replay rejected")
	}
	if limit := cfg.AnnounceBurst + int(cfg.AnnounceRate*elapsed.Seconds()) + 1; got[fresh.id] > limit || got[fresh.id] == 0 {
		t.Errorf("delivered %d new individuals from the flooder in %v; want 1 to %d", got[fresh.id], elapsed, limit)
	}
	if ab.Refused[LimitAnnounceRate] == 0 {
		t.Error("no announcement refused over the rate")
	}
	for _, r := range []*rogue{same, fresh} {
		if sc := victim.Score(r.id); sc >= GraylistThreshold {
			t.Errorf("rogue %s has score %.0f, want below the graylist threshold", r.id, sc)
		}
	}
	if l := victim.val.replay.len(); l > got[same.id]+got[fresh.id]+got[honest.ID()] {
		t.Errorf("replay cache holds %d entries for %d accepted announcements", l, got[same.id]+got[fresh.id]+got[honest.ID()])
	}
	if victim.val.announceLimit.len() > 8 {
		t.Errorf("the rate book holds %d signers", victim.val.announceLimit.len())
	}
	if heap1 > heap0+16<<20 {
		t.Errorf("heap in use grew from %.1f to %.1f MiB", float64(heap0)/(1<<20), float64(heap1)/(1<<20))
	}
	if g1 > g0+5 {
		t.Errorf("%d goroutines after, %d before", g1, g0)
	}
	t.Logf("announce: %d rounds in %v, each rogue publishing once per round; repeated individual delivered %d, replays rejected %d, score %.0f; new individuals delivered %d, ignored over the rate %d, score %.0f; both banned; replay cache %d entries; goroutines %d -> %d; heap in use %.1f -> %.1f MiB; RSS %d MiB (peak %d MiB)",
		n, elapsed.Round(time.Millisecond), got[same.id], rej[ReasonReplay], victim.Score(same.id),
		got[fresh.id], ab.Refused[LimitAnnounceRate], victim.Score(fresh.id), victim.val.replay.len(),
		g0, g1, float64(heap0)/(1<<20), float64(heap1)/(1<<20), rss>>10, hwm>>10)
}
