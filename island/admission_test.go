package island

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

var t0 = time.Unix(1_700_000_000, 0)

// testGenome returns a distinct genome with convs convolutions.
func testGenome(t *testing.T, nonce uint64, convs int) *dna.Genome {
	t.Helper()
	g := dna.Initial(dna.Shape{H: 28, W: 28, C: 1}, 10, 0.1)
	g.Nonce = nonce
	rng := rand.New(rand.NewPCG(nonce, 1))
	o := dna.DefaultMutateOptions()
	o.InsertMinChannels = 8
	for range convs {
		c, _, err := dna.MutateWith(g, dna.InsertConvolution, rng, o)
		if err != nil {
			t.Fatal(err)
		}
		g = c
	}
	return g
}

// everyone returns an admission for "me" where every peer is a neighbour.
func everyone(t *testing.T, p AdmissionPolicy) *Admission {
	t.Helper()
	a, err := NewAdmission("me", p, NewNeighbourhood(Topology{Kind: TopologyAll}, NewRoster(0), 0))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func cand(t *testing.T, from string, nonce uint64, claimed float64) Candidate {
	g := testGenome(t, nonce, 0)
	return Candidate{ID: g.ID(), Genome: g, From: from, Claimed: claimed}
}

// TestAdmissionBudget: whatever arrives, admissions stay within one per
// Every individuals trained and the re-measure share within Share (plus
// one re-measure), and refunds give the budget back.
func TestAdmissionBudget(t *testing.T) {
	for _, p := range []AdmissionPolicy{
		{Every: 5, ValImages: 1000},
		{Share: 0.1, ValImages: 5000},
		{Every: 3, Share: 0.02, Diversity: 0.5, ValImages: 2000},
	} {
		t.Run(fmt.Sprintf("every%d-share%v", p.Every, p.Share), func(t *testing.T) {
			a := everyone(t, p)
			rng := rand.New(rand.NewPCG(3, 4))
			genomes := make([]*dna.Genome, 8)
			for i := range genomes {
				genomes[i] = testGenome(t, uint64(i+1), i%4)
			}
			now, nonce, maxCost := t0, uint64(100), 0.0
			res := []Resident{{ID: dna.ID{1}, Fitness: 0.3, Genome: genomes[0]}, {ID: dna.ID{2}, Fitness: 0.5, Genome: genomes[1]}}
			for step := range 3000 {
				now = now.Add(time.Second)
				// A busy swarm: several announcements for each local child.
				for range 1 + rng.IntN(6) {
					g := genomes[rng.IntN(len(genomes))].Clone()
					nonce++
					g.Nonce = nonce
					a.Heard(Candidate{ID: g.ID(), Genome: g, From: fmt.Sprintf("p%d", rng.IntN(40)), Claimed: 0.4 + 0.5*rng.Float64()}, now)
				}
				if step%3 == 0 {
					a.Worked(1e9 * (1 + rng.Float64()))
				}
				for {
					tk, ok, err := a.Next(now, func() ([]Resident, error) { return res, nil })
					if err != nil {
						t.Fatal(err)
					}
					if !ok {
						break
					}
					maxCost = max(maxCost, tk.Cost)
					spent := rng.IntN(10) > 0
					a.Release(tk, spent, 0.5)
				}
			}
			st := a.Stats(now)
			net := st.Admitted - st.Refunded
			t.Logf("trained %d, heard %d, admitted %d (refunded %d, for novelty %d), re-measure share %.4f",
				st.Trained, st.Heard, st.Admitted, st.Refunded, st.Diverse, st.RemeasureShare())
			if net == 0 {
				t.Fatal("nothing admitted")
			}
			if p.Every > 0 && float64(net) > float64(st.Trained)/float64(p.Every) {
				t.Errorf("%d admissions for %d trained, want at most one per %d", net, st.Trained, p.Every)
			}
			if p.Share > 0 {
				limit := p.Share/(1-p.Share)*st.WorkFLOPs + maxCost
				if st.RemeasureFLOPs > limit {
					t.Errorf("re-measuring cost %.3g FLOPs for %.3g of work, above the limit %.3g", st.RemeasureFLOPs, st.WorkFLOPs, limit)
				}
			}
			if p.Diversity > 0 && st.Diverse == 0 {
				t.Error("no admission went to novelty")
			}
		})
	}
}

// TestAdmissionNothingWithoutWork: an island that trains nothing admits
// nothing, however much it hears.
func TestAdmissionNothingWithoutWork(t *testing.T) {
	a := everyone(t, AdmissionPolicy{Every: 1, Share: 0.5, ValImages: 100})
	for i := range 100 {
		a.Heard(cand(t, fmt.Sprintf("p%d", i), uint64(i+1), 0.9), t0)
	}
	if _, ok, _ := a.Next(t0, nil); ok {
		t.Error("admitted with no local work")
	}
	a.Worked(1e12)
	if _, ok, _ := a.Next(t0, nil); !ok {
		t.Error("nothing admitted after local work earned a credit")
	}
	if _, ok, _ := a.Next(t0, nil); ok {
		t.Error("two admissions on one child's credit")
	}
}

func TestAdmissionChoice(t *testing.T) {
	a := everyone(t, AdmissionPolicy{Every: 1, ValImages: 100, Burst: 10})
	for range 10 {
		a.Worked(1e9)
	}
	local := testGenome(t, 1, 2)
	dup := cand(t, "d", 50, 0.99)
	res := []Resident{
		{ID: dna.ID{1}, Fitness: 0.4, Genome: local}, {ID: dna.ID{2}, Fitness: 0.6, Genome: local},
		{ID: dna.ID{3}, Fitness: 0.7, Genome: local}, {ID: dup.ID, Fitness: 0.99, Genome: dup.Genome},
	}
	resf := func() ([]Resident, error) { return res, nil }
	a.Heard(cand(t, "low", 2, 0.6), t0)   // not above the median (0.65)
	a.Heard(cand(t, "mid", 3, 0.7), t0)   // eligible
	a.Heard(cand(t, "high", 4, 0.8), t0)  // eligible, highest
	a.Heard(dup, t0)                      // already alive here
	a.Heard(cand(t, "high", 5, 0.75), t0) // the same sender's lower claim: dropped
	a.Heard(cand(t, "mid", 6, 0.72), t0)  // the same sender's higher claim: replaces
	var got []float64
	for {
		tk, ok, err := a.Next(t0, resf)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, tk.Claimed)
		a.Release(tk, true, tk.Claimed)
	}
	if len(got) != 2 || got[0] != 0.8 || got[1] != 0.72 {
		t.Errorf("admitted claims %v, want [0.8 0.72]: highest first, only above the local median, one per sender", got)
	}
	st := a.Stats(t0)
	if st.Replaced != 2 || st.Waiting != 2 {
		t.Errorf("replaced %d, waiting %d; want 2 and 2 (the low claim and the duplicate stay ineligible)", st.Replaced, st.Waiting)
	}
	// They expire.
	a.Next(t0.Add(time.Hour), resf)
	if st := a.Stats(t0.Add(time.Hour)); st.Expired != 2 || st.Waiting != 0 {
		t.Errorf("after an hour: expired %d, waiting %d; want 2, 0", st.Expired, st.Waiting)
	}
}

// TestAdmissionDiversity: with Diversity 1 every admission goes to the
// architecture farthest from the local population, not the highest claim.
func TestAdmissionDiversity(t *testing.T) {
	a := everyone(t, AdmissionPolicy{Every: 1, Diversity: 1, ValImages: 100})
	a.Worked(1e9)
	local := testGenome(t, 1, 1)
	res := []Resident{{ID: dna.ID{1}, Fitness: 0.5, Genome: local}}
	same := local.Clone()
	same.Nonce = 99 // the same architecture, another individual
	a.Heard(Candidate{ID: same.ID(), Genome: same, From: "same", Claimed: 0.9}, t0)
	far := testGenome(t, 7, 4)
	a.Heard(Candidate{ID: far.ID(), Genome: far, From: "far", Claimed: 0.6}, t0)
	tk, ok, _ := a.Next(t0, func() ([]Resident, error) { return res, nil })
	if !ok || tk.From != "far" || !tk.Diverse || !(tk.Novelty >= 2) {
		t.Errorf("admitted %s (diverse %v, novelty %.2f), want the 4-convolution genome for novelty", tk.From, tk.Diverse, tk.Novelty)
	}
}

// TestAdmissionOverclaim: a sender whose claim measured far lower has its
// next claims discounted by that much.
func TestAdmissionOverclaim(t *testing.T) {
	a := everyone(t, AdmissionPolicy{Every: 1, ValImages: 100, Burst: 5})
	for range 5 {
		a.Worked(1e9)
	}
	a.Heard(cand(t, "liar", 1, 0.99), t0)
	tk, _, _ := a.Next(t0, nil)
	a.Release(tk, true, 0.2) // it lied by 0.79
	a.Heard(cand(t, "liar", 2, 0.95), t0)
	a.Heard(cand(t, "honest", 3, 0.7), t0)
	tk, ok, _ := a.Next(t0, nil)
	if !ok || tk.From != "honest" {
		t.Errorf("admitted %q, want the honest sender's 0.7 over the liar's 0.95 (0.16 after its overclaim)", tk.From)
	}
}

// TestAdmissionBogus: a bogus migrant gives its ticket back (the budget
// is refunded, counted as bogus) and its sender's next claims are
// discounted by its whole claim.
func TestAdmissionBogus(t *testing.T) {
	a := everyone(t, AdmissionPolicy{Every: 1, ValImages: 100, Burst: 1})
	a.Worked(1e9)
	a.Heard(cand(t, "cheat", 1, 0.9), t0)
	tk, ok, _ := a.Next(t0, nil)
	if !ok {
		t.Fatal("nothing admitted with one admission earned")
	}
	a.Bogus(tk)
	st := a.Stats(t0)
	if st.Refunded != 1 || st.Bogus != 1 || st.Remeasured != 0 || st.Credit != 1 {
		t.Errorf("after a bogus migrant: %+v; want refunded 1, bogus 1, nothing re-measured, the admission back", st)
	}
	a.Heard(cand(t, "cheat", 2, 0.95), t0)
	a.Heard(cand(t, "honest", 3, 0.3), t0)
	if tk, ok, _ := a.Next(t0, nil); !ok || tk.From != "honest" {
		t.Errorf("admitted %q, want the honest sender's 0.3 over the cheat's 0.95 (0.05 after its bogus 0.9)", tk.From)
	}
}

// TestAdmissionUnreachable: a sender whose weights do not come has its
// ticket refunded and its announcements passed over, however high their
// claim, for a minute, then two after a second failure in a row; others
// are admitted meanwhile, and a fetch from it that succeeds ends it. Under
// the bounded policy and "everyone hears everything" alike.
func TestAdmissionUnreachable(t *testing.T) {
	for _, p := range []AdmissionPolicy{{Every: 1, ValImages: 100, Burst: 5}, {}} {
		t.Run(fmt.Sprintf("bounded=%v", p.Bounded()), func(t *testing.T) {
			a := everyone(t, p)
			for range 5 {
				a.Worked(1e9)
			}
			at := func(d time.Duration) time.Time { return t0.Add(d) }
			next := func(d time.Duration) (string, bool) {
				t.Helper()
				tk, ok, err := a.Next(at(d), nil)
				if err != nil {
					t.Fatal(err)
				}
				return tk.From, ok
			}
			ub, sec := UnreachableBackoff, time.Second
			a.Heard(cand(t, "staller", 1, 0.99), at(0))
			tk, ok, _ := a.Next(at(0), nil)
			if !ok || tk.From != "staller" {
				t.Fatalf("admitted %q (%v), want the only candidate", tk.From, ok)
			}
			a.Unreachable(tk, at(0))
			if st := a.Stats(at(0)); st.Unreachable != 1 || st.Refunded != 1 || st.Remeasured != 0 {
				t.Errorf("after unserved weights: %+v; want unreachable 1, refunded 1, nothing re-measured", st)
			}
			// Its next announcement waits; a lower claim from another goes first.
			a.Heard(cand(t, "staller", 2, 0.99), at(sec))
			a.Heard(cand(t, "honest", 3, 0.5), at(sec))
			if from, ok := next(2 * sec); !ok || from != "honest" {
				t.Fatalf("admitted %q (%v), want the other sender while the staller backs off", from, ok)
			}
			if from, ok := next(ub - sec); ok {
				t.Fatalf("admitted %q within the staller's first backoff of %v", from, ub)
			}
			if a.Stats(at(ub-sec)).PassedOver == 0 {
				t.Error("the staller's waiting announcement was not counted as passed over")
			}
			t1 := ub + sec
			tk, ok, _ = a.Next(at(t1), nil)
			if !ok || tk.From != "staller" {
				t.Fatalf("admitted %q (%v) after the backoff, want the staller again", tk.From, ok)
			}
			// A second failure in a row: twice as long.
			a.Unreachable(tk, at(t1))
			a.Heard(cand(t, "staller", 4, 0.99), at(t1+sec))
			if from, ok := next(t1 + 2*ub - sec); ok {
				t.Fatalf("admitted %q within the staller's second backoff of %v", from, 2*ub)
			}
			t2 := t1 + 2*ub + sec
			tk, ok, _ = a.Next(at(t2), nil)
			if !ok || tk.From != "staller" {
				t.Fatalf("admitted %q (%v) after the second backoff, want the staller", tk.From, ok)
			}
			// Served: the backoff is over, and a later failure starts again at one.
			a.Release(tk, true, 0.9)
			t3 := t2 + 10*sec
			a.Heard(cand(t, "staller", 5, 0.99), at(t3))
			tk, ok, _ = a.Next(at(t3), nil)
			if !ok || tk.From != "staller" {
				t.Fatalf("admitted %q (%v) right after a served fetch, want the staller", tk.From, ok)
			}
			a.Unreachable(tk, at(t3))
			a.Heard(cand(t, "staller", 6, 0.99), at(t3+sec))
			if _, ok := next(t3 + ub - sec); ok {
				t.Fatalf("admitted within %v of a new failure", ub)
			}
			if from, ok := next(t3 + ub + sec); !ok || from != "staller" {
				t.Fatalf("admitted %q (%v) %v after a first failure in a new run, want the staller", from, ok, ub)
			}
		})
	}
}

// TestAdmissionUnreachableBackoffCap: the backoff doubles up to
// UnreachableMaxBackoff and no further.
func TestAdmissionUnreachableBackoffCap(t *testing.T) {
	a := everyone(t, AdmissionPolicy{})
	now := t0
	for i := range 10 {
		a.Heard(cand(t, "gone", uint64(100+i), 0.9), now)
		tk, ok, _ := a.Next(now, nil)
		if !ok {
			t.Fatalf("failure %d: nothing admitted at the end of the backoff", i)
		}
		a.Unreachable(tk, now)
		want := min(UnreachableBackoff<<i, UnreachableMaxBackoff)
		a.Heard(cand(t, "gone", uint64(200+i), 0.9), now)
		if _, ok, _ := a.Next(now.Add(want-time.Second), nil); ok {
			t.Fatalf("failure %d: admitted before its backoff of %v ended", i+1, want)
		}
		now = now.Add(want)
	}
}

// TestAdmissionFullPoolDropsUnreachableFirst: when the pool is full, the
// announcement of a sender whose weights did not come makes room before
// any other, even for a lower claim, and such a sender's new announcement
// takes no place; otherwise the lowest claim makes room.
func TestAdmissionFullPoolDropsUnreachableFirst(t *testing.T) {
	a := everyone(t, AdmissionPolicy{Every: 1, ValImages: 100, Burst: 5, Pool: 2})
	for range 5 {
		a.Worked(1e9)
	}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	a.Heard(cand(t, "staller", 1, 0.99), at(0))
	tk, ok, err := a.Next(at(0), nil)
	if err != nil || !ok || tk.From != "staller" {
		t.Fatalf("admitted %q (%v, %v), want the only candidate", tk.From, ok, err)
	}
	a.Unreachable(tk, at(0))
	if !a.Heard(cand(t, "staller", 2, 0.99), at(1)) || !a.Heard(cand(t, "mid", 3, 0.7), at(1)) {
		t.Fatal("an announcement into a pool with room did not wait")
	}
	// Full: a lower claim than both still takes the staller's place.
	if !a.Heard(cand(t, "low", 4, 0.6), at(2)) {
		t.Fatal("the full pool kept the unreachable sender's announcement over a new one")
	}
	// The staller's next announcement, though its claim is the highest,
	// ranks below every waiting one while it backs off.
	if a.Heard(cand(t, "staller", 7, 0.99), at(2)) {
		t.Error("an unreachable sender's new announcement displaced a reachable one")
	}
	// Full again, nobody passed over: the lowest claim makes room for a
	// higher one, and a claim lower than every waiting one is turned away.
	if a.Heard(cand(t, "lower", 5, 0.5), at(3)) {
		t.Error("a claim lower than every waiting one took a place in the full pool")
	}
	if !a.Heard(cand(t, "high", 6, 0.8), at(3)) {
		t.Error("a claim higher than the lowest waiting one was turned away")
	}
	var got []string
	for range 3 {
		tk, ok, err := a.Next(at(4), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, tk.From)
		a.Release(tk, true, 0.5)
	}
	if want := []string{"high", "mid"}; !slices.Equal(got, want) {
		t.Errorf("admitted %v from the full pool, want %v", got, want)
	}
	if st := a.Stats(at(4)); st.Overflow != 4 {
		t.Errorf("overflow %d, want 4", st.Overflow)
	}
}

// TestAdmissionOneCopy: the same individual announced by two senders is
// admitted once; the other copy is dropped as a duplicate.
func TestAdmissionOneCopy(t *testing.T) {
	a := everyone(t, AdmissionPolicy{Every: 1, ValImages: 100, Burst: 5})
	for range 5 {
		a.Worked(1e9)
	}
	c := cand(t, "origin", 1, 0.9)
	relay := c
	relay.From = "relay"
	a.Heard(c, t0)
	a.Heard(relay, t0)
	if _, ok, _ := a.Next(t0, nil); !ok {
		t.Fatal("nothing admitted")
	}
	if tk, ok, _ := a.Next(t0, nil); ok {
		t.Errorf("admitted %s from %q a second time", tk.ID.Short(), tk.From)
	}
	if st := a.Stats(t0); st.Admitted != 1 || st.Duplicate != 1 {
		t.Errorf("admitted %d, duplicates %d; want 1 and 1", st.Admitted, st.Duplicate)
	}
}

// TestAdmissionNeighbourhood: announcements from outside the neighbourhood
// are counted and dropped, never admitted.
func TestAdmissionNeighbourhood(t *testing.T) {
	r := NewRoster(0)
	nb := NewNeighbourhood(Topology{Kind: TopologyRing, K: 2, Salt: "s"}, r, 0)
	for _, p := range peerNames(50) {
		r.Seen(p, t0)
	}
	a, err := NewAdmission("me", AdmissionPolicy{}, nb)
	if err != nil {
		t.Fatal(err)
	}
	in := nb.In("me", t0)
	for i, p := range peerNames(50) {
		a.Heard(cand(t, p, uint64(i+1), 0.5), t0)
	}
	st := a.Stats(t0)
	if st.NotNeighbour != 48 || st.Waiting != 2 || st.Neighbours != 2 || st.Known != 51 {
		t.Errorf("not neighbour %d, waiting %d, neighbours %d, known %d; want 48, 2, 2, 51", st.NotNeighbour, st.Waiting, st.Neighbours, st.Known)
	}
	// Unbounded: every one of the neighbours' announcements, in order heard.
	for range 2 {
		tk, ok, _ := a.Next(t0, nil)
		if !ok || (tk.From != in[0] && tk.From != in[1]) {
			t.Errorf("admitted %q (%v), want a neighbour of %v", tk.From, ok, in)
		}
	}
}

func TestAdmissionPoolOverflow(t *testing.T) {
	a := everyone(t, AdmissionPolicy{Every: 1, Pool: 3, ValImages: 1})
	for i, c := range []float64{0.5, 0.6, 0.7, 0.4, 0.8} {
		a.Heard(cand(t, fmt.Sprintf("p%d", i), uint64(i+1), c), t0)
	}
	a.Worked(1)
	a.Worked(1)
	a.Worked(1)
	var got []float64
	for {
		tk, ok, _ := a.Next(t0, nil)
		if !ok {
			break
		}
		got = append(got, tk.Claimed)
	}
	if fmt.Sprint(got) != "[0.8 0.7]" || a.Stats(t0).Overflow != 2 {
		t.Errorf("admitted %v with overflow %d; want the best of a pool of 3 (0.8, 0.7, 0.6; credit for 2) and 2 overflows", got, a.Stats(t0).Overflow)
	}
}

func TestAdmissionPolicyValidate(t *testing.T) {
	for _, p := range []AdmissionPolicy{{Every: -1}, {Share: 1}, {Share: math.NaN()}, {Diversity: 1.5}} {
		if p.Validate() == nil {
			t.Errorf("%+v validated", p)
		}
	}
}

// TestAdmissionRefundForgets: an individual whose weights did not come
// (refunded, unserved, or bogus) may be admitted again from another
// sender's announcement; one refused (here before, or over the memory
// budget) may not.
func TestAdmissionRefundForgets(t *testing.T) {
	for name, giveBack := range map[string]func(*Admission, Ticket){
		"refunded":    func(a *Admission, tk Ticket) { a.Release(tk, false, math.NaN()) },
		"unreachable": func(a *Admission, tk Ticket) { a.Unreachable(tk, t0) },
		"bogus":       func(a *Admission, tk Ticket) { a.Bogus(tk) },
		"refused":     func(a *Admission, tk Ticket) { a.Refuse(tk) },
	} {
		t.Run(name, func(t *testing.T) {
			for _, p := range []AdmissionPolicy{{Every: 1, ValImages: 100, Burst: 5}, {}} {
				a := everyone(t, p)
				for range 5 {
					a.Worked(1e9)
				}
				first := cand(t, "relay1", 1, 0.9)
				a.Heard(first, t0)
				tk, ok, err := a.Next(t0, nil)
				if err != nil || !ok || tk.ID != first.ID {
					t.Fatalf("bounded=%v: admitted %v (%v, %v), want the only candidate", p.Bounded(), tk.ID.Short(), ok, err)
				}
				giveBack(a, tk)
				again := first
				again.From = "relay2"
				waits := a.Heard(again, t0.Add(time.Second))
				tk, ok, _ = a.Next(t0.Add(time.Second), nil)
				if want := name != "refused"; waits != want || ok != want || ok && tk.From != "relay2" {
					t.Errorf("bounded=%v: the same individual from another sender waits %v, admitted %v (from %q); want %v",
						p.Bounded(), waits, ok, tk.From, want)
				}
			}
		})
	}
}

// TestAdmissionOneCopyAtATime: while one admitter reads the population,
// another takes an individual that a second sender announced too; the
// first must not admit that individual again.
func TestAdmissionOneCopyAtATime(t *testing.T) {
	a := everyone(t, AdmissionPolicy{Every: 1, ValImages: 100, Burst: 5})
	for range 5 {
		a.Worked(1e9)
	}
	x := cand(t, "a", 1, 0.9)
	a.Heard(x, t0)
	y := x
	y.From = "b"
	a.Heard(y, t0)
	none := func() ([]Resident, error) { return nil, nil }
	var inner Ticket
	outer, ok, err := a.Next(t0, func() ([]Resident, error) {
		var ok bool
		inner, ok, _ = a.Next(t0, none) // the other admitter, meanwhile
		if !ok {
			t.Error("the other admitter got nothing")
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok && outer.ID == inner.ID {
		t.Errorf("two admitters both took %s (from %q and %q)", outer.ID.Short(), inner.From, outer.From)
	}
	if st := a.Stats(t0); ok || st.Admitted != 1 {
		t.Errorf("admitted %d (the outer call %v), want the one copy", st.Admitted, ok)
	}
}

// TestAdmissionRefundKeepsCap: a refund does not take the re-measuring
// credit past what the last individuals trained here earned, even when
// local work refilled it while the fetch was under way.
func TestAdmissionRefundKeepsCap(t *testing.T) {
	a := everyone(t, AdmissionPolicy{Share: 0.5, ValImages: 1000})
	for range WorkWindow {
		a.Worked(1e9)
	}
	capped := a.Stats(t0).FLOPsCredit
	a.Heard(cand(t, "p", 1, 0.9), t0)
	tk, ok, _ := a.Next(t0, func() ([]Resident, error) { return nil, nil })
	if !ok || tk.Cost <= 0 {
		t.Fatalf("admitted %v at cost %v", ok, tk.Cost)
	}
	a.Worked(1e9) // refills to the cap meanwhile
	a.Release(tk, false, math.NaN())
	if got := a.Stats(t0).FLOPsCredit; got > capped*(1+1e-12) {
		t.Errorf("credit %.4g after the refund, above its cap %.4g", got, capped)
	}
}

// TestAdmissionOverclaimFades: a caught sender's discount lasts
// OverclaimMemory, so that even one caught with its whole claim (bogus)
// is measured again later; and while it lasts, a full pool evicts the
// caught sender's announcement first, by its discounted claim.
func TestAdmissionOverclaimFades(t *testing.T) {
	a := everyone(t, AdmissionPolicy{Every: 1, ValImages: 100, Burst: 5, Pool: 2})
	for range 5 {
		a.Worked(1e9)
	}
	a.Heard(cand(t, "cheat", 1, 0.9), t0)
	tk, _, _ := a.Next(t0, nil)
	a.Bogus(tk)
	// The pool is full of the cheat's 0.95 (0.05 after its discount) and
	// an honest 0.5: a newcomer's 0.3 takes the cheat's place.
	a.Heard(cand(t, "cheat", 2, 0.95), t0.Add(time.Minute))
	a.Heard(cand(t, "honest", 3, 0.5), t0.Add(time.Minute))
	if !a.Heard(cand(t, "newcomer", 4, 0.3), t0.Add(time.Minute)) {
		t.Error("a full pool kept a caught sender's discounted 0.05 over a newcomer's 0.3")
	}
	res := func() ([]Resident, error) { return []Resident{{ID: dna.ID{9}, Fitness: 0.2}}, nil }
	for _, want := range []string{"honest", "newcomer"} {
		if tk, ok, _ := a.Next(t0.Add(time.Minute), res); !ok || tk.From != want {
			t.Errorf("admitted %q (%v), want %q", tk.From, ok, want)
		}
	}
	// Heard after the discount's memory: measured again.
	late := t0.Add(OverclaimMemory + time.Minute)
	a.Heard(cand(t, "cheat", 5, 0.95), late)
	if tk, ok, _ := a.Next(late, res); !ok || tk.From != "cheat" {
		t.Errorf("admitted %q (%v) %v after the cheat was caught, want the cheat measured again", tk.From, ok, OverclaimMemory+time.Minute)
	}
}
