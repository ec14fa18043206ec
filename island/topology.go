package island

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"
)

// TopologyKind names how islands choose the peers they take migrants from.
type TopologyKind string

// Topologies.
const (
	// TopologyAll: every island takes migrants from every other, as if the
	// swarm were one population (the paper-like setting, for small swarms).
	TopologyAll TopologyKind = "all"
	// TopologyRing: the islands sit on a fixed ring ordered by a hash of
	// their peer IDs; each takes migrants from its K nearest on it (the
	// nearer predecessor first, then the nearer successor, and so on). A
	// lineage crosses a swarm of N islands in about N/K hops.
	TopologyRing TopologyKind = "ring"
	// TopologyRandom: K rings, each a random order of the islands drawn
	// afresh every Reshuffle; an island takes migrants from its
	// predecessor on each. Every island has at most K in-neighbours and
	// at most K out-neighbours (a random regular graph, the union of K
	// random cycles), any two islands are a few hops apart (about
	// log N / log K), and the graph changes slowly, so lineages spread
	// over several hops and reshuffles instead of one broadcast.
	TopologyRandom TopologyKind = "random"
)

// Topology is how an island chooses its in-neighbours, the peers whose
// migrants it considers. Every island of a swarm computes the same graph
// from the same peers, with nothing exchanged: positions on the rings are
// hashes of (Salt, epoch, ring, peer ID).
type Topology struct {
	Kind TopologyKind
	// K is the number of in-neighbours (ring, random).
	K int
	// Reshuffle is how often the random topology is redrawn: epoch e
	// covers [e*Reshuffle, (e+1)*Reshuffle) of Unix time, so islands with
	// roughly synchronised clocks agree on the graph.
	Reshuffle time.Duration
	// Salt separates the graphs of different experiments (their ID).
	Salt string
}

// Validate checks the settings.
func (t Topology) Validate() error {
	switch t.Kind {
	case TopologyAll, "":
		return nil
	case TopologyRing:
		if t.K < 1 {
			return fmt.Errorf("island: topology ring: %d neighbours, want at least 1", t.K)
		}
	case TopologyRandom:
		if t.K < 1 {
			return fmt.Errorf("island: topology random: %d neighbours, want at least 1", t.K)
		}
		if t.Reshuffle <= 0 {
			return fmt.Errorf("island: topology random: reshuffle interval %v must be positive", t.Reshuffle)
		}
	default:
		return fmt.Errorf("island: topology %q: want %q, %q or %q", t.Kind, TopologyAll, TopologyRing, TopologyRandom)
	}
	return nil
}

// All reports whether every island hears every other.
func (t Topology) All() bool { return t.Kind == TopologyAll || t.Kind == "" }

// Epoch returns the random topology's epoch at now; 0 for the others.
func (t Topology) Epoch(now time.Time) int64 {
	if t.Kind != TopologyRandom || t.Reshuffle <= 0 {
		return 0
	}
	ns := now.UnixNano()
	e := ns / int64(t.Reshuffle)
	if ns < 0 && ns%int64(t.Reshuffle) != 0 {
		e-- // floor, before 1970 (a simulator's clock may start at 0)
	}
	return e
}

// position is peer's place on ring r at epoch e.
func (t Topology) position(peer string, epoch int64, ring int) uint64 {
	h := sha256.New()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(epoch))
	binary.LittleEndian.PutUint64(b[8:], uint64(ring))
	h.Write([]byte(t.Salt))
	h.Write([]byte{0})
	h.Write(b[:])
	h.Write([]byte(peer))
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// Graph returns, for each of peers (distinct), the indices of its
// in-neighbours at epoch, nearest first; nil for TopologyAll (everyone).
// It costs K sorts of the peers.
func (t Topology) Graph(peers []string, epoch int64) [][]int {
	if t.All() {
		return nil
	}
	if t.Kind != TopologyRandom {
		epoch = 0 // the ring never changes
	}
	n := len(peers)
	in := make([][]int, n)
	order := make([]int, n)
	pos := make([]uint64, n)
	sortRing := func(ring int) {
		for i, p := range peers {
			pos[i] = t.position(p, epoch, ring)
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int {
			if c := cmp.Compare(pos[a], pos[b]); c != 0 {
				return c
			}
			return cmp.Compare(peers[a], peers[b])
		})
	}
	add := func(i, j int) {
		if i != j && !slices.Contains(in[i], j) {
			in[i] = append(in[i], j)
		}
	}
	switch t.Kind {
	case TopologyRing:
		sortRing(0)
		for r, i := range order {
			// Alternate predecessor and successor, nearest first, until K
			// distinct others (fewer when the swarm is smaller).
			for d := 1; len(in[i]) < t.K && d <= n/2+1; d++ {
				add(i, order[(r-d+n)%n])
				if len(in[i]) < t.K {
					add(i, order[(r+d)%n])
				}
			}
		}
	case TopologyRandom:
		for ring := range t.K {
			sortRing(ring)
			for r, i := range order {
				add(i, order[(r-1+n)%n])
			}
		}
	}
	return in
}

// Roster is the set of peers an island knows: those it heard from within
// TTL (0: forever), and those pinned (itself). The topology is computed
// over it, so islands that heard the same peers agree on the graph. It is
// safe for concurrent use; a simulator shares one among its islands.
type Roster struct {
	mu      sync.Mutex
	ttl     time.Duration
	seen    map[string]time.Time
	pinned  map[string]bool
	version uint64
	pruned  time.Time
}

// NewRoster returns an empty roster that forgets a peer not heard from
// for ttl (0: never).
func NewRoster(ttl time.Duration) *Roster {
	return &Roster{ttl: ttl, seen: map[string]time.Time{}, pinned: map[string]bool{}}
}

// Pin adds peer for good (an island pins itself).
func (r *Roster) Pin(peer string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.pinned[peer] {
		r.pinned[peer] = true
		if _, ok := r.seen[peer]; !ok {
			r.version++
		}
		r.seen[peer] = time.Time{}
	}
}

// Seen records that peer was heard from at now, and forgets (every
// quarter TTL) the peers not heard from for the TTL: whatever reads the
// roster, it does not grow with the peers a long run has ever heard.
func (r *Roster) Seen(peer string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(now)
	last, ok := r.seen[peer]
	switch {
	case !ok:
		r.version++
		r.seen[peer] = now
	case r.ttl > 0 && !r.pinned[peer] && now.After(last):
		r.seen[peer] = now
	}
}

// Len returns how many peers the roster holds (pinned ones included).
func (r *Roster) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// prune forgets, every quarter TTL, the peers not heard for the TTL.
// Call with r.mu held.
func (r *Roster) prune(now time.Time) {
	if r.ttl > 0 && now.Sub(r.pruned) >= r.ttl/4 {
		r.pruned = now
		for p, t := range r.seen {
			if !r.pinned[p] && now.Sub(t) > r.ttl {
				delete(r.seen, p)
				r.version++
			}
		}
	}
}

// versionAt prunes what expired by now, if due, and returns the roster's
// version (it changes whenever the set of peers does).
func (r *Roster) versionAt(now time.Time) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(now)
	return r.version
}

// peers prunes what expired by now and returns the peers, sorted, and
// the roster's version.
func (r *Roster) peers(now time.Time) ([]string, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(now)
	out := make([]string, 0, len(r.seen))
	for p := range r.seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out, r.version
}

// Neighbourhood is a topology over a roster: who takes migrants from whom
// now. It recomputes the graph when the epoch changes, and when the
// roster changed but at most once per Refresh (a peer first heard waits
// that long to count), so a large swarm that is still being discovered
// does not cost a sort per announcement. Safe for concurrent use; islands
// that share a roster may share one Neighbourhood.
type Neighbourhood struct {
	topo    Topology
	roster  *Roster
	refresh time.Duration

	mu       sync.Mutex
	valid    bool
	version  uint64
	epoch    int64
	computed time.Time
	peers    []string
	index    map[string]int
	in       [][]int
	out      [][]int // inverse of in, built on demand
}

// NewNeighbourhood returns the topology t over roster r, recomputed at
// most every refresh after the roster changes (0: at once).
func NewNeighbourhood(t Topology, r *Roster, refresh time.Duration) *Neighbourhood {
	return &Neighbourhood{topo: t, roster: r, refresh: refresh}
}

// Topology returns the neighbourhood's topology.
func (nb *Neighbourhood) Topology() Topology { return nb.topo }

// Roster returns the roster it is computed over.
func (nb *Neighbourhood) Roster() *Roster { return nb.roster }

// update recomputes the graph if it is due. Call with nb.mu held.
func (nb *Neighbourhood) update(now time.Time) {
	if nb.topo.All() {
		return
	}
	epoch := nb.topo.Epoch(now)
	if nb.valid && epoch == nb.epoch && (now.Sub(nb.computed) < nb.refresh || nb.roster.versionAt(now) == nb.version) {
		return
	}
	peers, version := nb.roster.peers(now)
	nb.peers, nb.version, nb.epoch, nb.computed, nb.valid = peers, version, epoch, now, true
	nb.index = make(map[string]int, len(peers))
	for i, p := range peers {
		nb.index[p] = i
	}
	nb.in = nb.topo.Graph(peers, epoch)
	nb.out = nil
}

// Contains reports whether self takes migrants from peer now.
func (nb *Neighbourhood) Contains(self, peer string, now time.Time) bool {
	if self == peer {
		return false
	}
	if nb.topo.All() {
		return true
	}
	nb.mu.Lock()
	defer nb.mu.Unlock()
	nb.update(now)
	i, ok := nb.index[self]
	if !ok {
		return false
	}
	j, ok := nb.index[peer]
	return ok && slices.Contains(nb.in[i], j)
}

// In returns the peers self takes migrants from now, nearest first; for
// TopologyAll, every other peer of the roster.
func (nb *Neighbourhood) In(self string, now time.Time) []string {
	if nb.topo.All() {
		peers, _ := nb.roster.peers(now)
		return slices.DeleteFunc(peers, func(p string) bool { return p == self })
	}
	nb.mu.Lock()
	defer nb.mu.Unlock()
	nb.update(now)
	i, ok := nb.index[self]
	if !ok {
		return nil
	}
	out := make([]string, len(nb.in[i]))
	for k, j := range nb.in[i] {
		out[k] = nb.peers[j]
	}
	return out
}

// Out returns the peers that take migrants from peer now (its
// out-neighbours), for a simulator delivering an announcement only where
// it will be considered; for TopologyAll, every other peer of the roster.
func (nb *Neighbourhood) Out(peer string, now time.Time) []string {
	if nb.topo.All() {
		return nb.In(peer, now)
	}
	nb.mu.Lock()
	defer nb.mu.Unlock()
	nb.update(now)
	if nb.out == nil {
		nb.out = make([][]int, len(nb.in))
		for i, js := range nb.in {
			for _, j := range js {
				nb.out[j] = append(nb.out[j], i)
			}
		}
	}
	j, ok := nb.index[peer]
	if !ok {
		return nil
	}
	out := make([]string, len(nb.out[j]))
	for k, i := range nb.out[j] {
		out[k] = nb.peers[i]
	}
	return out
}
