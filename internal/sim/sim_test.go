package sim

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
)

// smallConfig is a cpu-small-like swarm: population 20, 300 steps per
// child, 6,000 validation images, emigrating every 10 children, random
// rings of 2 neighbours, one admission per 20 trained, re-measuring at
// most 5% of the FLOPs, a quarter of admissions for novelty.
func smallConfig(nodes int, minutes float64) Config {
	o := dna.DefaultMutateOptions()
	o.InsertMinChannels = 16
	o.Bounds.MaxParams, o.Bounds.MaxFLOPs, o.Bounds.MaxChannels = 2_000_000, 300_000_000, 256
	return Config{
		Nodes: nodes, Minutes: minutes, Population: 20, Mutation: o, EmigrateEvery: 10,
		Topology:  island.Topology{Kind: island.TopologyRandom, K: 2, Reshuffle: 10 * time.Minute, Salt: "test"},
		Policy:    island.AdmissionPolicy{Every: 20, Share: 0.05, Diversity: 0.25, ValImages: 6000},
		Landscape: DefaultLandscape(300, 50, 6000), Spread: 0.3, Seed: 1, Reports: 2,
	}
}

func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mean(r *Report, f func(NodeStats) float64) float64 { return Summarize(r.Nodes, f).Mean }

// TestSimulationWithinBudget runs 100 virtual nodes for 10 virtual minutes
// (seconds of CPU) and checks that every node admitted within its budget,
// that announcements from outside a node's neighbourhood never reach its
// admission, and that migrants do flow and win.
func TestSimulationWithinBudget(t *testing.T) {
	cfg := smallConfig(100, 10)
	r := run(t, cfg)
	if err := WithinBudget(r, cfg.Policy); err != nil {
		t.Fatal(err)
	}
	adm := mean(r, func(n NodeStats) float64 { return float64(n.Admitted) })
	acc := mean(r, func(n NodeStats) float64 { return float64(n.Accepted) })
	tr := mean(r, func(n NodeStats) float64 { return float64(n.Trained) })
	heard := mean(r, func(n NodeStats) float64 { return float64(n.Heard) })
	gossip := mean(r, func(n NodeStats) float64 { return float64(n.Gossip) })
	t.Logf("per node: trained %.1f, gossip %.0f, heard %.1f, admitted %.1f, accepted %.1f; swarm lineages %d, leaders %d, best %.3f (wall %v)",
		tr, gossip, heard, adm, acc, r.Lineages, r.Leaders, r.Best, r.Wall)
	if adm == 0 || acc == 0 {
		t.Fatalf("admitted %.1f, accepted %.1f per node: no migration", adm, acc)
	}
	// Each node hears its (at most 2 per epoch) neighbours, not the swarm.
	if heard > gossip/10 {
		t.Errorf("a node's admission heard %.1f of the %.0f announcements its gossip carried; want only its neighbours'", heard, gossip)
	}
	for _, n := range r.Nodes {
		if n.Gossip != r.Published-n.Sent {
			t.Fatalf("%s: gossip %d, want every other node's %d announcements", n.Node, n.Gossip, r.Published-n.Sent)
		}
	}
	if r.Best < 0.3 {
		t.Errorf("best fitness %.3f: evolution did not climb", r.Best)
	}
}

// TestSimulationFlat: what a node admits and spends re-measuring does not
// grow with the swarm; with the same budget, the sparse topology keeps
// more lineages alive than everyone hearing everyone.
func TestSimulationFlat(t *testing.T) {
	small, large := run(t, smallConfig(10, 10)), run(t, smallConfig(100, 10))
	per := func(r *Report) float64 {
		return mean(r, func(n NodeStats) float64 { return float64(n.Admitted) }) / mean(r, func(n NodeStats) float64 { return float64(n.Trained) })
	}
	share := func(r *Report) float64 { return Summarize(r.Nodes, func(n NodeStats) float64 { return n.Share }).Max }
	t.Logf("admitted per trained: %.3f at 10 nodes, %.3f at 100; largest re-measure share %.4f and %.4f", per(small), per(large), share(small), share(large))
	if per(large) > 1.5*per(small) || per(large) > 1.0/20 {
		t.Errorf("admissions per individual trained grew from %.3f (10 nodes) to %.3f (100 nodes)", per(small), per(large))
	}
	if share(large) > 0.05 || share(small) > 0.05 {
		t.Errorf("re-measure shares up to %.4f and %.4f, above the 5%% budget", share(small), share(large))
	}
	all := smallConfig(100, 10)
	all.Topology = island.Topology{Kind: island.TopologyAll}
	everyone := run(t, all)
	t.Logf("lineages alive at 100 nodes: %d (random, 2 neighbours), %d (everyone hears everyone)", large.Lineages, everyone.Lineages)
	if large.Lineages <= everyone.Lineages {
		t.Errorf("the sparse topology kept %d lineages, everyone-hears-everyone %d; want more with the sparse one", large.Lineages, everyone.Lineages)
	}
}

// TestSimulationRepeatable: the same seed gives the same run.
func TestSimulationRepeatable(t *testing.T) {
	a, b := run(t, smallConfig(20, 5)), run(t, smallConfig(20, 5))
	strip := func(r *Report) []NodeStats { return r.Nodes }
	if !slices.Equal(strip(a), strip(b)) || a.Lineages != b.Lineages || a.Best != b.Best {
		t.Error("two runs with the same seed differ")
	}
	cfg := smallConfig(20, 5)
	cfg.Seed = 2
	if c := run(t, cfg); slices.Equal(strip(a), strip(c)) {
		t.Error("another seed gave the same run")
	}
}

// TestSimulationUnbounded: without a budget, what a node admits grows with
// the swarm (the problem the budget solves).
func TestSimulationUnbounded(t *testing.T) {
	admitted := func(nodes int) float64 {
		cfg := smallConfig(nodes, 5)
		cfg.Topology, cfg.Policy = island.Topology{Kind: island.TopologyAll}, island.AdmissionPolicy{ValImages: 6000}
		r := run(t, cfg)
		return mean(r, func(n NodeStats) float64 { return float64(n.Admitted) })
	}
	a, b := admitted(5), admitted(40)
	t.Logf("unbounded, everyone hears everyone: %.1f admitted per node at 5 nodes, %.1f at 40", a, b)
	// Not 8 times: relayed copies of what a node already admitted are
	// duplicates, and a node busy re-measuring emigrates less.
	if b < 3*a {
		t.Errorf("unbounded admission grew only from %.1f to %.1f per node with 8 times the nodes", a, b)
	}
}

// TestNothingTravelsBeforeItExists checks the virtual clock's causality:
// an immigrant exists at its receiver only after it exists at its origin
// (its training there ended, then the announcement arrived, then the
// receiver re-measured it), and a report counts no individual before its
// training ends.
func TestNothingTravelsBeforeItExists(t *testing.T) {
	cfg := smallConfig(3, 60)
	cfg.Topology = island.Topology{Kind: island.TopologyAll}
	cfg.Policy.Every, cfg.Policy.Share = 2, 0
	cfg.EmigrateEvery = 1
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	var checked int
	byNode := map[string]*vnode{}
	for _, v := range s.nodes {
		byNode[v.id] = v
	}
	for _, v := range s.nodes {
		for _, m := range v.pop.alive {
			if m.origin == v.id {
				continue
			}
			o := byNode[m.origin]
			i := o.pop.find(m.id)
			if i < 0 {
				continue // dead at its origin by now
			}
			checked++
			if orig := o.pop.alive[i]; !(m.exists > orig.exists) {
				t.Errorf("%s exists at %s from %.1f s, at its origin %s only from %.1f s", m.id.Short(), v.id, m.exists, o.id, orig.exists)
			}
		}
		for _, m := range v.pop.alive {
			if m.exists > v.doneAt {
				t.Errorf("%s at %s exists from %.1f s, after the node's last task ends (%.1f s)", m.id.Short(), v.id, m.exists, v.doneAt)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no immigrant alive at both ends to compare: the test shows nothing")
	}
	t.Logf("%d immigrants compared with their originals", checked)
}
