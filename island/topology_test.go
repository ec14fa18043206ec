package island

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func peerNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("peer-%05d", i)
	}
	return out
}

func degrees(in [][]int) (maxIn, maxOut int) {
	out := make([]int, len(in))
	for _, js := range in {
		maxIn = max(maxIn, len(js))
		for _, j := range js {
			out[j]++
		}
	}
	return maxIn, slices.Max(out)
}

// hops returns the longest shortest path from 0 along out-edges (the way
// migrants travel), or -1 if some peer is unreachable.
func hops(in [][]int) int {
	out := make([][]int, len(in))
	for i, js := range in {
		for _, j := range js {
			out[j] = append(out[j], i)
		}
	}
	dist := make([]int, len(in))
	for i := range dist {
		dist[i] = -1
	}
	dist[0] = 0
	queue := []int{0}
	far := 0
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range out[v] {
			if dist[w] < 0 {
				dist[w] = dist[v] + 1
				far = max(far, dist[w])
				queue = append(queue, w)
			}
		}
	}
	if slices.Contains(dist, -1) {
		return -1
	}
	return far
}

func TestTopologyRing(t *testing.T) {
	peers := peerNames(100)
	topo := Topology{Kind: TopologyRing, K: 4, Salt: "exp"}
	in := topo.Graph(peers, 0)
	for i, js := range in {
		if len(js) != 4 || slices.Contains(js, i) {
			t.Fatalf("peer %d has in-neighbours %v, want 4 others", i, js)
		}
		// An even K on a ring is symmetric: two on each side.
		for _, j := range js {
			if !slices.Contains(in[j], i) {
				t.Errorf("peer %d takes from %d but not the other way round", i, j)
			}
		}
	}
	if h := hops(in); h < 100/4-1 || h > 100/4+1 {
		t.Errorf("a lineage crosses the ring of 100 in %d hops, want about N/K = 25", h)
	}
	if !slices.Equal(topo.Graph(peers, 0)[7], in[7]) || !slices.Equal(topo.Graph(peers, 99)[7], in[7]) {
		t.Error("the ring changed between calls or epochs")
	}
	// A swarm smaller than K: everyone else.
	small := topo.Graph(peerNames(3), 0)
	for i, js := range small {
		if len(js) != 2 {
			t.Errorf("3 peers, K 4: peer %d has %v, want the other two", i, js)
		}
	}
	if g := topo.Graph(peerNames(1), 0); len(g) != 1 || len(g[0]) != 0 {
		t.Errorf("one peer: %v, want no neighbour", g)
	}
}

func TestTopologyRandom(t *testing.T) {
	peers := peerNames(1000)
	topo := Topology{Kind: TopologyRandom, K: 3, Reshuffle: time.Minute, Salt: "exp"}
	a := topo.Graph(peers, 5)
	maxIn, maxOut := degrees(a)
	if maxIn > 3 || maxOut > 3 {
		t.Errorf("in-degree up to %d, out-degree up to %d; want at most K = 3", maxIn, maxOut)
	}
	short := 0
	for _, js := range a {
		if len(js) < 3 {
			short++
		}
	}
	if short > 20 {
		t.Errorf("%d of 1000 peers have fewer than 3 in-neighbours (duplicates across rings should be rare)", short)
	}
	// A random regular graph: every peer a few hops from every other.
	if h := hops(a); h < 0 || h > 15 {
		t.Errorf("1000 peers, K 3: %d hops from peer 0 to the farthest, want a connected graph of small diameter (about log N)", h)
	}
	if b := topo.Graph(peers, 5); !slices.EqualFunc(a, b, slices.Equal) {
		t.Error("the same epoch gave two graphs")
	}
	c := topo.Graph(peers, 6)
	same := 0
	for i := range a {
		if slices.Equal(a[i], c[i]) {
			same++
		}
	}
	if same > 50 {
		t.Errorf("%d of 1000 neighbourhoods unchanged after a reshuffle", same)
	}
	other := Topology{Kind: TopologyRandom, K: 3, Reshuffle: time.Minute, Salt: "another experiment"}
	if d := other.Graph(peers, 5); slices.EqualFunc(a, d, slices.Equal) {
		t.Error("two experiments drew the same graph")
	}
	if e1, e2 := topo.Epoch(time.Unix(119, 0)), topo.Epoch(time.Unix(120, 0)); e1 != 1 || e2 != 2 {
		t.Errorf("epochs at 119 s and 120 s: %d and %d, want 1 and 2", e1, e2)
	}
	if e := topo.Epoch(time.Unix(-1, 0)); e != -1 {
		t.Errorf("epoch just before 1970: %d, want -1", e)
	}
}

func TestNeighbourhood(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	r := NewRoster(time.Minute)
	r.Pin("me")
	nb := NewNeighbourhood(Topology{Kind: TopologyRing, K: 2, Salt: "x"}, r, 10*time.Second)
	for _, p := range peerNames(20) {
		r.Seen(p, t0)
	}
	in := nb.In("me", t0)
	if len(in) != 2 {
		t.Fatalf("in-neighbours %v, want 2", in)
	}
	for _, p := range peerNames(20) {
		if got, want := nb.Contains("me", p, t0), slices.Contains(in, p); got != want {
			t.Errorf("Contains(me, %s) = %v, In lists it: %v", p, got, want)
		}
		for _, q := range nb.Out(p, t0) {
			if !nb.Contains(q, p, t0) {
				t.Errorf("Out(%s) lists %s, which does not take from it", p, q)
			}
		}
	}
	if nb.Contains("me", "me", t0) {
		t.Error("a peer is its own neighbour")
	}
	// A peer heard later counts after the refresh interval, not at once.
	r.Seen("zz-newcomer", t0.Add(time.Second))
	before := nb.In("me", t0.Add(time.Second))
	if !slices.Equal(before, in) {
		t.Errorf("the neighbourhood changed within the refresh interval: %v, was %v", before, in)
	}
	// Peers not heard for the TTL are forgotten; pinned ones stay.
	later := t0.Add(2 * time.Minute)
	r.Seen(in[0], later)
	if got := nb.In("me", later); !slices.Equal(got, []string{in[0]}) {
		t.Errorf("after the others expired: %v, want only %s", got, in[0])
	}
	if r.Len() != 2 {
		t.Errorf("roster holds %d peers after expiry, want me and %s", r.Len(), in[0])
	}
	all := NewNeighbourhood(Topology{Kind: TopologyAll}, r, 0)
	if !all.Contains("me", "anyone", later) || len(all.In("me", later)) != 1 {
		t.Error("topology all: not everyone is a neighbour")
	}
}

// TestRosterForgetsWithoutReaders: a roster that is only fed (the "all"
// topology never reads it to decide) still forgets the peers not heard
// from for its TTL.
func TestRosterForgetsWithoutReaders(t *testing.T) {
	ttl := 10 * time.Minute
	r := NewRoster(ttl)
	r.Pin("me")
	for i := range 1000 {
		r.Seen(fmt.Sprintf("p%d", i), t0)
	}
	for i := range 10 {
		r.Seen("steady", t0.Add(ttl+time.Duration(i)*ttl/4))
	}
	if n := r.Len(); n != 2 {
		t.Errorf("roster holds %d peers after the others went quiet for longer than %v; want 2 (itself and the steady one)", n, ttl)
	}
}
