package gossip

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/evoswarm/evoswarm/island/dna"
)

// mapLineage serves chains from a map, as a node serves them from its store.
type mapLineage struct {
	mu sync.Mutex
	m  map[dna.ID][]LineageStep
}

func (m *mapLineage) Lineage(id dna.ID, limit int) ([]LineageStep, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.m[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrLineageNotFound, id.Short())
	}
	return l[max(0, len(l)-limit):], nil
}

// testChain returns a chain of n steps made on node, oldest first, each
// the child of the one before.
func testChain(t testing.TB, node peer.ID, n int) []LineageStep {
	t.Helper()
	g := testGenome(t)
	out := make([]LineageStep, 0, n)
	born := time.Unix(1700000000, 0).UTC()
	for i := range n {
		st := LineageStep{ID: g.ID(), Parent: g.Parent, Fitness: 0.1 + 0.8*float64(i)/float64(max(n, 1)), Born: born.Add(time.Duration(i) * time.Second), Node: node}
		if i > 0 {
			st.Mutation = dna.Kind(1 + i%5).String()
		}
		out = append(out, st)
		child := *g
		child.Parent, child.Mutation, child.Nonce = g.ID(), dna.Kind(1+(i+1)%5), g.Nonce+1
		g = &child
	}
	return out
}

func TestLineageEncodeRoundTrip(t *testing.T) {
	a, b := testKey(t), testKey(t)
	pa, _ := peer.IDFromPrivateKey(a)
	pb, _ := peer.IDFromPrivateKey(b)
	chain := testChain(t, pa, 5)
	last := chain[len(chain)-1]
	hop := last
	hop.Node, hop.Immigrant, hop.Fitness = pb, true, 0.42
	chain = append(chain, hop)
	enc, err := EncodeLineage(chain)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadLineage(bytes.NewReader(enc), hop.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(chain) {
		t.Fatalf("%d steps back, sent %d", len(got), len(chain))
	}
	for i := range chain {
		if got[i] != chain[i] {
			t.Errorf("step %d: got %+v, sent %+v", i, got[i], chain[i])
		}
	}
}

// TestLineageCheckChain: a chain must end with the requested individual,
// and each step follow the one before it; a migration repeats the same
// individual as an immigrant on another node.
func TestLineageCheckChain(t *testing.T) {
	pa, _ := peer.IDFromPrivateKey(testKey(t))
	pb, _ := peer.IDFromPrivateKey(testKey(t))
	chain := testChain(t, pa, 4)
	id := chain[3].ID
	if err := CheckChain(id, chain); err != nil {
		t.Fatal(err)
	}
	hop := chain[3]
	hop.Node, hop.Immigrant = pb, true
	if err := CheckChain(id, append(chain[:4:4], hop)); err != nil {
		t.Errorf("a migration step: %v", err)
	}
	notImmigrant := hop
	notImmigrant.Immigrant = false
	sameNode := hop
	sameNode.Node = pa
	gap := append([]LineageStep{chain[0]}, chain[2:]...)
	for name, tc := range map[string]struct {
		id    dna.ID
		steps []LineageStep
	}{
		"empty":                 {id, nil},
		"wrong end":             {chain[2].ID, chain},
		"a gap":                 {id, gap},
		"a repeat not marked":   {id, append(chain[:4:4], notImmigrant)},
		"a migration to itself": {id, append(chain[:4:4], sameNode)},
	} {
		if err := CheckChain(tc.id, tc.steps); !errors.Is(err, ErrBadLineage) {
			t.Errorf("%s: %v, want ErrBadLineage", name, err)
		}
	}
	for name, st := range map[string]LineageStep{
		"zero ID":        {Node: pa},
		"NaN fitness":    {ID: id, Node: pa, Fitness: math.NaN()},
		"fitness 2":      {ID: id, Node: pa, Fitness: 2},
		"escape":         {ID: id, Node: pa, Mutation: "\x1b[31mred"},
		"long mutation":  {ID: id, Node: pa, Mutation: strings.Repeat("a", maxStepMutation+1)},
		"no node":        {ID: id},
		"bogus node":     {ID: id, Node: peer.ID("not a multihash")},
		"too long chain": {},
	} {
		steps := []LineageStep{st}
		if name == "too long chain" {
			steps = make([]LineageStep, MaxLineageSteps+1)
		}
		if _, err := EncodeLineage(steps); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

// TestLineageFetch: over real loopback hosts, a node fetches the chain a
// peer serves, gets ErrLineageNotFound for one it does not hold, and a
// chain longer than MaxLineageSteps comes cut to the newest steps.
func TestLineageFetch(t *testing.T) {
	a, b := newSwarm(t), newSwarm(t)
	connect(t, b, a)
	chain := testChain(t, a.ID(), 6)
	long := testChain(t, a.ID(), MaxLineageSteps+10)
	src := &mapLineage{m: map[dna.ID][]LineageStep{chain[5].ID: chain, long[len(long)-1].ID: long}}
	a.ServeLineage(src)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	got, err := b.FetchLineage(ctx, a.ID(), chain[5].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 || got[0] != chain[0] || got[5] != chain[5] || got[3].Node != a.ID() {
		t.Errorf("fetched %+v", got)
	}
	if _, err := b.FetchLineage(ctx, a.ID(), testGenome(t).ID()); !errors.Is(err, ErrLineageNotFound) {
		t.Errorf("an unknown individual: %v, want ErrLineageNotFound", err)
	}
	got, err = b.FetchLineage(ctx, a.ID(), long[len(long)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxLineageSteps || got[0] != long[10] {
		t.Errorf("a long chain came as %d steps from %s; want the newest %d", len(got), got[0].ID.Short(), MaxLineageSteps)
	}
	// A node that serves no lineage (an older build): the stream is refused.
	c := newSwarm(t)
	connect(t, b, c)
	if _, err := b.FetchLineage(ctx, c.ID(), chain[5].ID); err == nil {
		t.Error("a node without the protocol answered")
	}
}

// TestLineageHostileReplies: whatever a peer answers on the lineage
// stream, the fetch ends with a clear error within its bounds, reads no
// more than the largest valid answer, and nothing panics.
func TestLineageHostileReplies(t *testing.T) {
	a, b := newSwarm(t), newSwarm(t)
	connect(t, b, a)
	pa := a.ID()
	chain := testChain(t, pa, 3)
	id := chain[2].ID
	good, err := EncodeLineage(chain)
	if err != nil {
		t.Fatal(err)
	}
	other := testChain(t, pa, 2)
	wrongEnd, _ := EncodeLineage(other)
	count := func(n uint32) []byte { return binary.LittleEndian.AppendUint32([]byte{statusOK}, n) }
	// The first step (an initial individual: no mutation name), then a
	// node ID of 200 bytes.
	bigNode := append(bytes.Clone(good[:5+stepFixed-1]), 200)
	bigNode = append(bigNode, bytes.Repeat([]byte{1}, 200)...)

	replies := map[string]struct {
		body []byte
		want string
	}{
		"unknown status":       {[]byte{9}, "unknown status"},
		"no steps":             {count(0), "0 steps"},
		"too many steps":       {count(MaxLineageSteps + 1), "4097 steps"},
		"count 4 billion":      {count(1<<32 - 1), "steps"},
		"short":                {good[:len(good)-3], "EOF"},
		"wrong individual":     {wrongEnd, "not the requested"},
		"oversized node ID":    {bigNode, "node ID of 200 bytes"},
		"garbage":              {append([]byte{statusOK, 3, 0, 0, 0}, bytes.Repeat([]byte{0xff}, 1000)...), "flags"},
		"a flood of junk":      {append(count(MaxLineageSteps), bytes.Repeat([]byte{0}, 2<<20)...), "node ID of 0 bytes"},
		"count without a step": {count(2), "EOF"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, tc := range replies {
		a.Host().SetStreamHandler(LineageProtocol, func(st network.Stream) {
			defer st.Close()
			st.SetDeadline(time.Now().Add(5 * time.Second))
			var req [32]byte
			if _, err := st.Read(req[:]); err != nil {
				st.Reset()
				return
			}
			st.Write(tc.body)
		})
		start := time.Now()
		_, err := b.FetchLineage(ctx, pa, id)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
	// A peer that takes the request and never answers: cancelling the
	// fetch (a node stopping) ends it at once, not after LineageTimeout,
	// and costs the peer nothing.
	a.Host().SetStreamHandler(LineageProtocol, func(st network.Stream) {
		var req [32]byte
		st.Read(req[:])
		time.Sleep(LineageTimeout + time.Second)
		st.Reset()
	})
	before := b.Score(pa)
	cctx, ccancel := context.WithCancel(ctx)
	time.AfterFunc(300*time.Millisecond, ccancel)
	start := time.Now()
	if _, err := b.FetchLineage(cctx, pa, id); err == nil {
		t.Error("a fetch from a silent peer, cancelled, succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a cancelled fetch from a silent peer returned after %v (LineageTimeout %v)", d, LineageTimeout)
	}
	if after := b.Score(pa); after < before {
		t.Errorf("a fetch this node cancelled cost the peer: score %.1f -> %.1f", before, after)
	}
	// The honest answer still goes through on the same connection.
	a.Host().SetStreamHandler(LineageProtocol, func(st network.Stream) {
		defer st.Close()
		var req [32]byte
		st.Read(req[:])
		st.Write(good)
	})
	if got, err := b.FetchLineage(ctx, pa, id); err != nil || len(got) != 3 {
		t.Errorf("the honest answer: %d steps, %v", len(got), err)
	}
	// Every reply that broke the protocol cost the answering peer.
	bad := b.Abuse().Refused[LimitLineageBad]
	if bad < 5 {
		t.Errorf("%d bad lineage replies counted; want most of the %d", bad, len(replies))
	}
	if sc, want := b.Score(pa), -float64(bad)*BadReplyPenalty/2; sc > want {
		t.Errorf("the peer that answered badly scores %.0f; want at most %.0f", sc, want)
	}
}

// TestLineageFloodIsLimited: a peer asking for lineages far faster than a
// node admits immigrants is refused beyond its burst and loses score, and
// an honest peer is still answered.
func TestLineageFloodIsLimited(t *testing.T) {
	burst := 5
	limits := func(c *Config) { c.ServeRate, c.ServeBurst = 0.5, burst }
	a, flooder, honest := newSwarm(t, limits), newSwarm(t), newSwarm(t)
	connect(t, flooder, a)
	connect(t, honest, a)
	chain := testChain(t, a.ID(), 4)
	id := chain[3].ID
	a.ServeLineage(&mapLineage{m: map[dna.ID][]LineageStep{id: chain}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	served, refused := 0, 0
	for range 3 * burst {
		if _, err := flooder.FetchLineage(ctx, a.ID(), id); err == nil {
			served++
		} else {
			refused++
		}
	}
	ab := a.Abuse()
	if served > burst+2 || refused == 0 || ab.Refused[LimitLineageRate] == 0 {
		t.Errorf("served %d, refused %d (counted %d) of %d; want at most the burst of %d served",
			served, refused, ab.Refused[LimitLineageRate], 3*burst, burst)
	}
	// Score what the server refused (a fetch can also fail on a loaded
	// machine's deadline, which costs nothing).
	if n := ab.Refused[LimitLineageRate]; a.Score(flooder.ID()) > -float64(n)*OverLimitPenalty/2 {
		t.Errorf("the flooder scores %.0f after %d refusals for rate", a.Score(flooder.ID()), n)
	}
	if got, err := honest.FetchLineage(ctx, a.ID(), id); err != nil || len(got) != 4 {
		t.Errorf("the honest peer: %d steps, %v", len(got), err)
	}
}
