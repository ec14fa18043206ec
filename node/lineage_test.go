package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/gossip"
	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/island/individual"
	"github.com/evoswarm/evoswarm/store"
	"github.com/evoswarm/evoswarm/train"
	"github.com/libp2p/go-libp2p/core/peer"
)

// lineageNode is a swarm member with a real store and an exchange that
// admits every announcement (re-measure: 0.5), as a node has, without the
// island: the test inserts what the island would.
type lineageNode struct {
	sw  *gossip.Swarm
	st  *store.Store
	x   *exchange
	dir string
}

func newLineageNode(t *testing.T, ctx context.Context, exp string, blob []byte, serve bool, bootstrap ...string) *lineageNode {
	t.Helper()
	e, _ := Preset("smoke")
	sw := loopbackSwarm(t, exp, liarWeights(blob), bootstrap...)
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	n := &lineageNode{sw: sw, st: st, dir: dir}
	t.Cleanup(func() { n.st.Close() })
	n.x = &exchange{
		sw: sw, exp: e, self: sw.ID(), pop: population{st}, in: make(chan island.Migrant, 16), recent: map[dna.ID][]byte{},
		measure: func(context.Context, *dna.Genome, []byte) (float64, error) { return 0.5, nil },
		log:     testLog(t),
	}
	if serve {
		serveLineage(sw, st, n.x.log)
	}
	go n.x.run(ctx)
	return n
}

// breed inserts g as trained here.
func (n *lineageNode) breed(t *testing.T, g *dna.Genome, fitness float64, blob []byte) {
	t.Helper()
	ind, err := individual.New(g, n.sw.ID().String(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ind.Fitness = fitness
	if err := (population{n.st}).Insert(ind, blob); err != nil {
		t.Fatal(err)
	}
}

// immigrate has from announce g until n admits it, and inserts the
// immigrant as the island would.
func (n *lineageNode) immigrate(t *testing.T, ctx context.Context, exp string, from *lineageNode, g *dna.Genome, blob []byte) {
	t.Helper()
	digest, _ := train.Digest(blob)
	for {
		a := gossip.Announcement{Experiment: exp, Genome: g, ID: g.ID(), Fitness: 0.5, WeightsDigest: digest,
			WeightsSize: int64(len(blob)), Origin: from.sw.ID(), SentAt: time.Now()}
		if err := from.sw.Publish(ctx, a); err != nil {
			t.Fatal(err)
		}
		wait := time.After(500 * time.Millisecond)
	recv:
		for {
			select {
			case m := <-n.x.Receive():
				if m.Genome.ID() != g.ID() {
					continue // another node's migrant, forwarded
				}
				ind, err := individual.New(m.Genome, m.Origin, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				ind.Fitness, ind.ClaimedFitness, ind.Immigrant = m.Fitness, m.Claimed, true
				if err := (population{n.st}).Insert(ind, m.Weights); err != nil {
					t.Fatal(err)
				}
				return
			case <-wait:
				break recv
			case <-ctx.Done():
				t.Fatalf("%s never admitted %s from %s", n.sw.ID(), g.ID().Short(), from.sw.ID())
			}
		}
	}
}

// child returns a child of g by mutation k.
func child(g *dna.Genome, k dna.Kind) *dna.Genome {
	c := *g
	c.Parent, c.Mutation, c.Nonce = g.ID(), k, g.Nonce+1
	return &c
}

// TestLineageAcrossThreeNodes: a migrant made on A goes to B, a
// descendant of it made on B goes to C, and C's lineage of its own
// grandchild shows the whole chain with A's and B's peer IDs, a migration
// as the same individual on both nodes; C serves the same chain to a
// peer; the chain survives C's restart and passes verify. An immigrant
// from a node that serves no lineage (an older build) is admitted all the
// same, its ancestry marked unknown.
func TestLineageAcrossThreeNodes(t *testing.T) {
	e, _ := Preset("smoke")
	exp := e.FullID()
	w := &train.Weights{Tensors: map[string]*train.Tensor{"fc/3/weight": {Shape: []int{10, 1}, Data: make([]float32, 10)}, "fc/3/bias": {Shape: []int{10}, Data: make([]float32, 10)}}}
	blob, err := w.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := newLineageNode(t, ctx, exp, blob, true)
	b := newLineageNode(t, ctx, exp, blob, true, a.sw.Addrs()[0])
	c := newLineageNode(t, ctx, exp, blob, true, b.sw.Addrs()[0])
	old := newLineageNode(t, ctx, exp, blob, false, b.sw.Addrs()[0])

	g0 := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	g0.Nonce = 1000
	g1 := child(g0, dna.AlterLearningRate)
	g2 := child(g1, dna.KeepTraining)
	g3 := child(g2, dna.AlterLearningRate)
	a.breed(t, g0, 0.2, blob)
	a.breed(t, g1, 0.3, blob)
	b.immigrate(t, ctx, exp, a, g1, blob)
	b.breed(t, g2, 0.4, blob)
	c.immigrate(t, ctx, exp, b, g2, blob)
	c.breed(t, g3, 0.6, blob)

	A, B, C := a.sw.ID().String(), b.sw.ID().String(), c.sw.ID().String()
	type want struct {
		id        dna.ID
		node      string
		immigrant bool
		status    StepStatus
	}
	wants := []want{
		{g0.ID(), A, false, StepRemote}, {g1.ID(), A, false, StepRemote}, {g1.ID(), B, true, StepRemote},
		{g2.ID(), B, false, StepRemote}, {g2.ID(), C, true, StepAlive}, {g3.ID(), C, false, StepAlive},
	}
	check := func(what string, l []Ancestor) {
		t.Helper()
		if len(l) != len(wants) {
			t.Fatalf("%s: %d steps, want %d: %+v", what, len(l), len(wants), l)
		}
		for i, w := range wants {
			if s := l[i]; s.ID != w.id.String() || s.Node != w.node || s.Immigrant != w.immigrant || s.Status != w.status || s.ChainUnknown {
				t.Errorf("%s: step %d is %s on %s (immigrant %v, %s); want %s on %s (immigrant %v, %s)",
					what, i, s.ID[:8], s.Node, s.Immigrant, s.Status, w.id.Short(), w.node, w.immigrant, w.status)
			}
		}
		if l[0].Mutation != "initial" || l[1].Mutation != dna.AlterLearningRate.String() || l[3].Fitness != 0.4 || l[2].Fitness != 0.5 {
			t.Errorf("%s: mutations %s, %s; fitness on B %v, of the immigrant there %v", what, l[0].Mutation, l[1].Mutation, l[3].Fitness, l[2].Fitness)
		}
	}
	l, err := Lineage(c.st, g3.ID())
	if err != nil {
		t.Fatal(err)
	}
	check("C's lineage", l)

	// C serves the chain to a peer, as it would to a node its grandchild
	// migrates to.
	steps, err := b.sw.FetchLineage(ctx, c.sw.ID(), g3.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != len(wants) || steps[0].Node != a.sw.ID() || steps[3].Node != b.sw.ID() || steps[5].Node != c.sw.ID() {
		t.Errorf("C served %+v", steps)
	}

	// Back to B: C's grandchild's chain reaches g2, which B holds, so B
	// stores only the steps after it and the walk goes on through B's own
	// records; the lineage reads as if the whole chain had been stored.
	b.immigrate(t, ctx, exp, c, g3, blob)
	if err := b.st.View(func(tx *store.Tx) error {
		r, err := tx.Lineage(g3.ID())
		if err == nil && (r.Join != g2.ID() || len(r.Steps) != 2 || r.Steps[0].ID != g2.ID() || r.Steps[1].ID != g3.ID()) {
			t.Errorf("the chain back on B is stored as %d steps, joining at %s; want g2 on C and g3, joining at g2", len(r.Steps), r.Join.Short())
		}
		return err
	}); err != nil {
		t.Error(err)
	}
	l, err = Lineage(b.st, g3.ID())
	if err != nil {
		t.Fatal(err)
	}
	back := []struct {
		id        dna.ID
		node      string
		immigrant bool
	}{{g0.ID(), A, false}, {g1.ID(), A, false}, {g1.ID(), B, true}, {g2.ID(), B, false}, {g2.ID(), C, true}, {g3.ID(), C, false}, {g3.ID(), B, true}}
	if len(l) != len(back) {
		t.Fatalf("B's lineage of g3: %d steps, want %d: %+v", len(l), len(back), l)
	}
	for i, w := range back {
		if s := l[i]; s.ID != w.id.String() || s.Node != w.node || s.Immigrant != w.immigrant || s.ChainUnknown {
			t.Errorf("B's lineage of g3: step %d is %s on %s (immigrant %v); want %s on %s (immigrant %v)",
				i, s.ID[:8], s.Node, s.Immigrant, w.id.Short(), w.node, w.immigrant)
		}
	}

	// B serves that lineage, and it holds together (CheckChain).
	if steps, err := c.sw.FetchLineage(ctx, b.sw.ID(), g3.ID()); err != nil || len(steps) != len(back) {
		t.Errorf("B served g3's lineage as %d steps, %v; want %d", len(steps), err, len(back))
	}
	// A child of g1 made on A after g1 went to B: B holds g1 only as an
	// immigrant, a copy beside A's, so the chain is not joined there but
	// stored whole, and B serves a chain that holds together.
	g4 := child(g1, dna.AlterLearningRate)
	a.breed(t, g4, 0.35, blob)
	b.immigrate(t, ctx, exp, a, g4, blob)
	if err := b.st.View(func(tx *store.Tx) error {
		r, err := tx.Lineage(g4.ID())
		if err == nil && (!r.Join.IsZero() || len(r.Steps) != 3) {
			t.Errorf("g4's chain on B: %d steps, joining at %s; want all 3, not joined", len(r.Steps), r.Join.Short())
		}
		return err
	}); err != nil {
		t.Error(err)
	}
	if steps, err := c.sw.FetchLineage(ctx, b.sw.ID(), g4.ID()); err != nil || len(steps) != 4 ||
		steps[0].ID != g0.ID() || steps[2].ID != g4.ID() || steps[3].ID != g4.ID() || steps[3].Node != b.sw.ID() {
		t.Errorf("B served g4's lineage as %+v, %v", steps, err)
	}

	// From a node that serves no lineage: admitted, the chain unknown.
	h0 := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	h0.Nonce = 2000
	h1 := child(h0, dna.KeepTraining)
	old.breed(t, h0, 0.2, blob)
	old.breed(t, h1, 0.3, blob)
	b.immigrate(t, ctx, exp, old, h1, blob)
	l, err = Lineage(b.st, h1.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || !l[0].ChainUnknown || l[0].Status != StepUnknown || l[0].ID != h0.ID().String() ||
		l[1].ID != h1.ID().String() || !l[1].Immigrant || l[1].Node != B {
		t.Errorf("an immigrant from an older node: %+v", l)
	}
	if err := b.st.View(func(tx *store.Tx) error {
		r, err := tx.Lineage(h1.ID())
		if err == nil && (r.Error == "" || len(r.Steps) != 0) {
			t.Errorf("the unknown chain is stored as %+v", r)
		}
		return err
	}); err != nil {
		t.Error(err)
	}

	// A restart of C keeps the chain.
	cancel()
	if err := c.st.Close(); err != nil {
		t.Fatal(err)
	}
	if c.st, err = store.Open(c.dir, store.Options{MinFreeBytes: -1}); err != nil {
		t.Fatal(err)
	}
	if err := c.st.Verify(); err != nil {
		t.Errorf("verify after the restart: %v", err)
	}
	l, err = Lineage(c.st, g3.ID())
	if err != nil {
		t.Fatal(err)
	}
	check("C's lineage after a restart", l)
	if _, err := Lineage(c.st, h1.ID()); err == nil || errors.Is(err, store.ErrCorrupt) {
		t.Errorf("an individual C never held: %v", err)
	}

	// The API and the dashboard show the node of each step.
	n := &Node{store: c.st, exp: e, peer: C}
	_, body := get(t, n.handler(), "/api/v1/lineage?id="+g3.ID().String())
	_, js := get(t, n.handler(), "/app.js")
	for _, want := range []string{`"node":"` + A + `"`, `"node":"` + B + `"`, `"status":"remote"`, `"parent":"` + g2.ID().String() + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /api/v1/lineage lacks %s: %s", want, body)
		}
	}
	if !strings.Contains(js, "a.chain_unknown") || !strings.Contains(js, "nodeTag(a.node)") {
		t.Error("the dashboard's lineage does not show the node of each step")
	}
}

// TestJoinLineageOnlyWhereTheChainHolds: a chain is cut at an individual
// born here only where this node's record of it and the first step kept
// hold together as the walk serves them; every migration of that
// individual is kept; and whatever is stored, the chain this node then
// serves passes the receiver's check. A sender's chain that claims one of
// this node's individuals lived elsewhere as a non-immigrant is stored
// whole (joined, it would make this node serve chains that peers penalise).
func TestJoinLineageOnlyWhereTheChainHolds(t *testing.T) {
	self, m, k, p := testPeer(t), testPeer(t), testPeer(t), testPeer(t)
	st, err := store.Open(t.TempDir(), store.Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g0 := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	g0.Nonce = 7
	x := child(g0, dna.AlterLearningRate) // born here
	w := store.Seal([]byte("weights"))
	t1 := time.Now().Add(-time.Hour)
	for _, g := range []*dna.Genome{g0, x} {
		ind, err := individual.New(g, self.String(), t1)
		if err != nil {
			t.Fatal(err)
		}
		if err := (population{st}).Insert(ind, w); err != nil {
			t.Fatal(err)
		}
	}
	step := func(g *dna.Genome, on peer.ID, immigrant bool) store.LineageStep {
		return store.LineageStep{ID: g.ID(), Parent: g.Parent, Mutation: g.Mutation.String(), Born: t1, Node: string(on), Immigrant: immigrant}
	}
	cases := []struct {
		name      string
		migrant   *dna.Genome
		steps     func(c *dna.Genome) []store.LineageStep
		wantSteps int // stored; -1: the whole chain
	}{
		{"x went here -> m -> k, its grandchild comes back", child(child(x, dna.KeepTraining), dna.AlterLearningRate),
			func(c *dna.Genome) []store.LineageStep {
				mid := child(x, dna.KeepTraining)
				return []store.LineageStep{step(g0, self, false), step(x, self, false), step(x, m, true), step(x, k, true), step(mid, k, false), step(c, k, false)}
			}, 4}, // x on m and on k, mid, c
		{"a sender claims x lived on it, not as an immigrant", child(x, dna.KeepTraining),
			func(c *dna.Genome) []store.LineageStep {
				return []store.LineageStep{step(x, p, false), step(c, p, false)}
			}, -1},
		{"a child of x made on m", child(x, dna.AlterLearningRate),
			func(c *dna.Genome) []store.LineageStep {
				return []store.LineageStep{step(g0, self, false), step(x, self, false), step(x, m, true), step(c, m, false)}
			}, 2},
	}
	for _, tc := range cases {
		c := tc.migrant
		l := &store.Lineage{From: string(p), Receiver: string(self), At: time.Now(), Steps: tc.steps(c)}
		whole := len(l.Steps)
		imm, err := individual.New(c, p.String(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		imm.Immigrant = true
		if err := (population{st}).Insert(imm, w); err != nil {
			t.Fatal(err)
		}
		if err := st.Update(func(tx *store.Tx) error {
			joinLineage(tx, self, l)
			return tx.PutLineage(c.ID(), l)
		}); err != nil {
			t.Fatal(err)
		}
		want := tc.wantSteps
		if want < 0 {
			want = whole
		}
		if len(l.Steps) != want || (tc.wantSteps < 0) != l.Join.IsZero() {
			t.Errorf("%s: stored %d of %d steps, join %s; want %d", tc.name, len(l.Steps), whole, l.Join.Short(), want)
		}
		var served []gossip.LineageStep
		served, err = lineageSource{s: st, self: self}.Lineage(c.ID(), gossip.MaxLineageSteps)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := gossip.CheckChain(c.ID(), served); err != nil {
			t.Errorf("%s: the chain served fails the receiver's check: %v", tc.name, err)
		}
		if tc.wantSteps > 0 && len(served) != whole+1 {
			t.Errorf("%s: served %d steps, want the %d of the sender's chain and the immigrant", tc.name, len(served), whole+1)
		}
	}
}

func testPeer(t *testing.T) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestCheckMigrantChain: a sender's chain is kept only when its last step
// is the migrant as announced (its parent and mutation) on the sender; a
// chain that ends anywhere else is refused with ErrBadLineage, and
// keepLineage then stores the ancestry as unknown.
func TestCheckMigrantChain(t *testing.T) {
	sender, other := testPeer(t), testPeer(t)
	g0 := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	g0.Nonce = 11
	c := child(g0, dna.AlterLearningRate)
	r := gossip.Received{Announcement: gossip.Announcement{Genome: c, ID: c.ID()}, From: sender}
	chain := func(last gossip.LineageStep) []gossip.LineageStep {
		return []gossip.LineageStep{{ID: g0.ID(), Node: sender}, last}
	}
	good := gossip.LineageStep{ID: c.ID(), Parent: g0.ID(), Mutation: c.Mutation.String(), Node: sender}
	if err := checkMigrantChain(r, chain(good)); err != nil {
		t.Fatalf("the migrant's own chain: %v", err)
	}
	initial := gossip.Received{Announcement: gossip.Announcement{Genome: g0, ID: g0.ID()}, From: sender}
	if err := checkMigrantChain(initial, []gossip.LineageStep{{ID: g0.ID(), Node: sender}}); err != nil {
		t.Fatalf("an initial migrant (no parent, no mutation): %v", err)
	}
	bad := map[string]func(s *gossip.LineageStep){
		"another parent":   func(s *gossip.LineageStep) { s.Parent = child(g0, dna.KeepTraining).ID() },
		"another mutation": func(s *gossip.LineageStep) { s.Mutation = dna.KeepTraining.String() },
		"no mutation":      func(s *gossip.LineageStep) { s.Mutation = "" },
		"another node":     func(s *gossip.LineageStep) { s.Node = other },
	}
	for name, change := range bad {
		last := good
		change(&last)
		if err := checkMigrantChain(r, chain(last)); !errors.Is(err, gossip.ErrBadLineage) {
			t.Errorf("%s: got %v, want ErrBadLineage", name, err)
		}
	}
}
