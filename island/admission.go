package island

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

// AdmissionPolicy bounds what an island spends on immigrants, whatever the
// size of the swarm, and says which announcements it spends it on.
//
// An announcement (a genome and its sender's claimed fitness) costs its
// receiver only the gossip that carried it. Admitting it costs more: its
// weights are fetched from the sender and its fitness is re-measured on
// the local validation split (the claim is never trusted), and it then
// competes in a tournament. The budget ties admissions to the island's own
// work: at most one per Every individuals trained here, and re-measuring
// at most Share of the FLOPs the island spends. Both are token buckets
// filled by local training: an island that trains nothing admits nothing,
// one that trains admits at the same rate in a swarm of 10 or 10,000.
//
// Which announcements: only those from the island's neighbourhood (its
// Topology's in-neighbours) are considered; at most one per sender waits
// (the higher claim), at most Pool in all (the lowest claim makes room, but
// first a sender's whose weights did not come lately), none longer than
// MaxWait. When the budget allows an admission, the candidates are those
// not already alive here whose claim (less the sender's last measured
// overclaim, for OverclaimMemory) exceeds the median fitness of the local
// population, so that the budget goes to migrants that can win. Of these, the highest claim is admitted,
// except that a Diversity share of admissions goes to the most novel one:
// the farthest (Distance) from every local individual's architecture.
//
// A policy with neither Every nor Share is unbounded: every announcement
// from the neighbourhood is admitted, in the order heard, with no
// eligibility test (the behaviour before budgets existed).
type AdmissionPolicy struct {
	// Every: at most one admission per Every individuals trained here; 0
	// sets no count limit.
	Every int
	// Share: re-measuring takes at most this share of the FLOPs the island
	// spends (training, evaluating and re-measuring), in [0, 1); 0 sets
	// no compute limit.
	Share float64
	// Diversity is the share of admissions given to novelty, in [0, 1].
	Diversity float64
	// ValImages is the size of the local validation split: a re-measure
	// costs the genome's forward FLOPs per image times ValImages.
	ValImages int
	// Burst is the most admissions the count budget saves up (default 2);
	// the compute budget saves up what the last WorkWindow individuals
	// trained here earned.
	Burst int
	// Pool is the most announcements waiting (default 64); MaxWait how
	// long one may wait (default 10 minutes). A daemon serves the weights
	// of its last 32 emigrants and of any individual still alive: with
	// cpu-small's emigration every 10 children that outlasts MaxWait,
	// with smoke's every 2 it may not, and a fetch of weights no longer
	// held is refunded.
	Pool    int
	MaxWait time.Duration
}

// WorkWindow is how many of the latest individuals trained here the
// compute budget's savings may come from, so that a quiet spell does not
// turn into a burst of re-measuring later.
const WorkWindow = 16

// Bounded reports whether the policy has a budget.
func (p AdmissionPolicy) Bounded() bool { return p.Every > 0 || p.Share > 0 }

// Validate checks the policy.
func (p AdmissionPolicy) Validate() error {
	switch {
	case p.Every < 0:
		return fmt.Errorf("island: admission: one per %d children must not be negative", p.Every)
	case !(p.Share >= 0 && p.Share < 1):
		return fmt.Errorf("island: admission: re-measure share %v is outside [0, 1)", p.Share)
	case !(p.Diversity >= 0 && p.Diversity <= 1):
		return fmt.Errorf("island: admission: diversity share %v is outside [0, 1]", p.Diversity)
	case p.ValImages < 0 || p.Burst < 0 || p.Pool < 0 || p.MaxWait < 0:
		return errors.New("island: admission: validation images, burst, pool and wait must not be negative")
	}
	return nil
}

func (p *AdmissionPolicy) defaults() {
	if p.Burst == 0 {
		p.Burst = 2
	}
	if p.Pool == 0 {
		p.Pool = 64
	}
	if p.MaxWait == 0 {
		p.MaxWait = 10 * time.Minute
	}
}

// Candidate is an announcement waiting for admission.
type Candidate struct {
	ID     dna.ID
	Genome *dna.Genome
	// From is the peer that vouches for the claim and serves the weights;
	// the topology is over it.
	From    string
	Claimed float64
	Heard   time.Time
	// Payload is whatever the exchange needs to fetch the weights.
	Payload any
}

// Ticket is an admission: the candidate, what re-measuring it costs, and
// why it was chosen. Give it back with Release.
type Ticket struct {
	Candidate
	Cost    float64 // FLOPs of the re-measure
	Diverse bool    // chosen for novelty
	Novelty float64 // its Distance to the nearest local individual (diversity picks only)
}

// Resident is a live local individual, as the policy sees it.
type Resident struct {
	ID      dna.ID
	Fitness float64
	Genome  *dna.Genome
}

// AdmissionStats are an admission's running totals and state.
type AdmissionStats struct {
	Heard        int64 `json:"heard"`         // announcements offered
	NotNeighbour int64 `json:"not_neighbour"` // from outside the neighbourhood: they cost only their gossip
	Duplicate    int64 `json:"duplicate"`     // already waiting or admitted
	Replaced     int64 `json:"replaced"`      // lost to a higher claim of the same sender
	Overflow     int64 `json:"overflow"`      // pushed out of a full pool
	Expired      int64 `json:"expired"`       // waited MaxWait
	Admitted     int64 `json:"admitted"`      // tickets: weights fetched and re-measured, or tried
	Refunded     int64 `json:"refunded"`      // tickets given back unspent (weights unreachable, or bogus)
	Bogus        int64 `json:"bogus"`         // of them, the sender's fault: weights or genome that do not fit
	Unreachable  int64 `json:"unreachable"`   // of them, weights the sender did not serve in time (Admission.Unreachable)
	PassedOver   int64 `json:"passed_over"`   // times a waiting candidate was skipped, its sender backing off
	Diverse      int64 `json:"diverse"`       // admissions for novelty
	Remeasured   int64 `json:"remeasured"`
	// RemeasureFLOPs is what re-measuring cost; WorkFLOPs what the
	// Trained individuals trained here cost (the budget's base).
	RemeasureFLOPs float64 `json:"remeasure_flops"`
	Trained        int64   `json:"trained"`
	WorkFLOPs      float64 `json:"work_flops"`
	// Credit is the admissions the count budget allows now, FLOPsCredit
	// the re-measure FLOPs the compute budget allows (either unused when
	// its limit is 0).
	Credit      float64 `json:"credit"`
	FLOPsCredit float64 `json:"flops_credit"`
	Waiting     int     `json:"waiting"`
	Known       int     `json:"known_peers"`
	Neighbours  int     `json:"neighbours"`
}

// RemeasureShare is the share of the FLOPs spent (training here and
// re-measuring) that went to re-measuring.
func (st AdmissionStats) RemeasureShare() float64 {
	if st.RemeasureFLOPs == 0 {
		return 0
	}
	return st.RemeasureFLOPs / (st.RemeasureFLOPs + st.WorkFLOPs)
}

// Admission applies an AdmissionPolicy for one island. Its methods are
// safe for concurrent use: the exchange offers announcements as they
// arrive (Heard), the island reports its work (Worked), and admitters take
// tickets (Next) and give them back (Release).
type Admission struct {
	self string
	p    AdmissionPolicy
	nb   *Neighbourhood
	wake chan struct{}

	mu        sync.Mutex
	pool      map[string]*Candidate // by sender
	recent    map[dna.ID]bool       // admitted lately, so not again
	recentQ   []dna.ID
	credit    int // individuals trained and not yet spent: Every of them buy one admission
	flops     float64
	window    [WorkWindow]float64
	windowAt  int
	overclaim map[string]overclaim
	unreach   map[string]backoff // senders whose weights did not come, passed over until
	inflight  map[string]int     // tickets out, by sender: one fetch from a sender at a time
	sigs      map[dna.ID]Signature
	st        AdmissionStats
}

// backoff is a sender's run of failed fetches: n in a row, passed over
// until until.
type backoff struct {
	n     int
	until time.Time
}

// UnreachableBackoff is how long a sender's announcements are passed over
// after its weights could not be fetched; it doubles with each failure in
// a row, up to UnreachableMaxBackoff (after eight). It starts short: an
// honest sender's fetch can fail once on a loaded machine, and a first
// failure should cost its migrants seconds, not a minute; a sender that
// keeps failing is passed over for minutes within a few tries.
const (
	UnreachableBackoff    = 15 * time.Second
	UnreachableMaxBackoff = 32 * time.Minute
)

const recentAdmitted = 1024

// NewAdmission returns the admission of the island self (its peer ID),
// over the neighbourhood nb. self is pinned in nb's roster.
func NewAdmission(self string, p AdmissionPolicy, nb *Neighbourhood) (*Admission, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := nb.Topology().Validate(); err != nil {
		return nil, err
	}
	p.defaults()
	nb.Roster().Pin(self)
	return &Admission{
		self: self, p: p, nb: nb, wake: make(chan struct{}, 1),
		pool: map[string]*Candidate{}, recent: map[dna.ID]bool{},
		overclaim: map[string]overclaim{}, unreach: map[string]backoff{}, inflight: map[string]int{},
		sigs: map[dna.ID]Signature{},
	}, nil
}

// Policy returns the policy, defaults filled in.
func (a *Admission) Policy() AdmissionPolicy { return a.p }

// Neighbourhood returns the neighbourhood.
func (a *Admission) Neighbourhood() *Neighbourhood { return a.nb }

// Wake is signalled when an admission may have become possible: an
// announcement was pooled, local work added credit, or a ticket came back.
func (a *Admission) Wake() <-chan struct{} { return a.wake }

func (a *Admission) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Heard offers an announcement received at now. It reports whether the
// announcement waits for admission; one that does not has cost only its
// gossip.
func (a *Admission) Heard(c Candidate, now time.Time) bool {
	a.nb.Roster().Seen(c.From, now)
	neighbour := a.nb.Contains(a.self, c.From, now)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.Heard++
	if !neighbour {
		a.st.NotNeighbour++
		return false
	}
	if a.recent[c.ID] {
		a.st.Duplicate++
		return false
	}
	c.Heard = now
	if old := a.pool[c.From]; old != nil {
		if old.ID == c.ID {
			a.st.Duplicate++
			return false
		}
		a.st.Replaced++
		if c.Claimed < old.Claimed {
			return false
		}
	} else if len(a.pool) >= a.p.Pool {
		// The pool is full: the lowest claim (less its sender's
		// overclaim) leaves, but first one of a sender whose weights did
		// not come lately, which could not be admitted before its backoff
		// ends anyway; and such a sender's new announcement ranks below
		// every other.
		var low *Candidate
		lowShunned, newShunned := false, a.shunned(c.From, now)
		for _, w := range a.pool {
			sh := a.shunned(w.From, now)
			if low != nil {
				if sh != lowShunned {
					if !sh {
						continue
					}
				} else if !(a.claim(w) < a.claim(low) || a.claim(w) == a.claim(low) && w.Heard.Before(low.Heard)) {
					continue
				}
			}
			low, lowShunned = w, sh
		}
		a.st.Overflow++
		if newShunned && (!lowShunned || a.claim(&c) <= a.claim(low)) || !newShunned && !lowShunned && a.claim(&c) <= a.claim(low) {
			return false
		}
		delete(a.pool, low.From)
	}
	a.pool[c.From] = &c
	a.signal()
	return true
}

// Worked credits the budget with one individual trained here, which cost
// flops (training and evaluation). A training that failed is not work.
func (a *Admission) Worked(flops float64) {
	if !(flops > 0) {
		return
	}
	a.mu.Lock()
	a.st.Trained++
	a.st.WorkFLOPs += flops
	if a.p.Every > 0 {
		a.credit = min(a.credit+1, a.p.Burst*a.p.Every)
	}
	if a.p.Share > 0 {
		a.window[a.windowAt%WorkWindow] = flops
		a.windowAt++
		if capped := a.flopsCap(); a.flops < capped {
			a.flops = min(a.flops+a.p.Share/(1-a.p.Share)*flops, capped)
		}
	}
	a.mu.Unlock()
	a.signal()
}

// flopsCap is the most re-measuring credit there may be: what the last
// WorkWindow individuals trained here earned. Call with a.mu held.
func (a *Admission) flopsCap() float64 {
	var recent float64
	for _, w := range a.window {
		recent += w
	}
	return a.p.Share / (1 - a.p.Share) * recent
}

// affordable reports whether the budget allows an admission now. Call
// with a.mu held.
func (a *Admission) affordable() bool {
	return (a.p.Every == 0 || a.credit >= a.p.Every) && (a.p.Share == 0 || a.flops > 0)
}

// expire drops what waited too long. Call with a.mu held.
func (a *Admission) expire(now time.Time) {
	for from, c := range a.pool {
		if now.Sub(c.Heard) > a.p.MaxWait {
			delete(a.pool, from)
			a.st.Expired++
		}
	}
}

// Next returns the announcement to admit now, if the budget allows one
// and a candidate is eligible, and charges the budget with it (the count,
// and the re-measure's FLOPs, which its genome fixes in advance). The
// local population is read through residents only when there is a choice
// to make. The caller fetches the weights, re-measures, and then calls
// Release.
func (a *Admission) Next(now time.Time, residents func() ([]Resident, error)) (Ticket, bool, error) {
	a.mu.Lock()
	a.expire(now)
	for from, c := range a.pool {
		if a.recent[c.ID] { // admitted from another sender meanwhile
			delete(a.pool, from)
			a.st.Duplicate++
		}
	}
	if len(a.pool) == 0 || !a.affordable() {
		a.mu.Unlock()
		return Ticket{}, false, nil
	}
	if !a.p.Bounded() {
		var first *Candidate
		for _, c := range a.pool {
			if a.backingOff(c, now) {
				continue
			}
			if first == nil || c.Heard.Before(first.Heard) || c.Heard.Equal(first.Heard) && c.From < first.From {
				first = c
			}
		}
		if first == nil {
			a.mu.Unlock()
			return Ticket{}, false, nil
		}
		t := a.take(first, false, 0)
		a.mu.Unlock()
		return t, true, nil
	}
	// Nothing could be taken whatever the population: every candidate's
	// sender is backing off. Don't read the population for nothing (the
	// admitters poll every few seconds).
	open, shunned := false, int64(0)
	for _, c := range a.pool {
		if a.inflight[c.From] == 0 {
			if !a.shunned(c.From, now) {
				open = true
				break
			}
			shunned++
		}
	}
	if !open {
		a.st.PassedOver += shunned // as backingOff counts them
		a.mu.Unlock()
		return Ticket{}, false, nil
	}
	a.mu.Unlock()
	// Read the population outside the lock: announcements keep arriving.
	var res []Resident
	if residents != nil {
		var err error
		if res, err = residents(); err != nil {
			return Ticket{}, false, err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.affordable() {
		return Ticket{}, false, nil
	}
	alive := make(map[dna.ID]bool, len(res))
	fit := make([]float64, 0, len(res))
	for _, r := range res {
		alive[r.ID] = true
		fit = append(fit, r.Fitness)
	}
	bar := math.Inf(-1)
	if len(fit) > 0 {
		slices.Sort(fit)
		bar = fit[len(fit)/2]
		if len(fit)%2 == 0 {
			bar = (fit[len(fit)/2-1] + fit[len(fit)/2]) / 2
		}
	}
	var eligible []*Candidate
	for _, c := range a.pool {
		// recent: taken from another sender while the population was read.
		if !alive[c.ID] && !a.recent[c.ID] && a.claim(c) > bar && !a.backingOff(c, now) {
			eligible = append(eligible, c)
		}
	}
	if len(eligible) == 0 {
		return Ticket{}, false, nil
	}
	// Deterministic order, whatever the map's.
	slices.SortFunc(eligible, func(x, y *Candidate) int {
		switch {
		case a.claim(x) != a.claim(y):
			if a.claim(x) > a.claim(y) {
				return -1
			}
			return 1
		case !x.Heard.Equal(y.Heard):
			return x.Heard.Compare(y.Heard)
		}
		return slices.Compare(x.ID[:], y.ID[:])
	})
	// Admission n is for novelty when the running count of diversity
	// admissions, Diversity*n rounded down, steps up at n.
	n := float64(a.st.Admitted)
	if a.p.Diversity > 0 && math.Floor((n+1)*a.p.Diversity) > math.Floor(n*a.p.Diversity) {
		sigs := a.residentSignatures(res)
		var best *Candidate
		bestNov := 0.0
		for _, c := range eligible {
			nov := math.Inf(1)
			sc := SignatureOf(c.Genome)
			for _, s := range sigs {
				nov = min(nov, Distance(sc, s))
			}
			if len(sigs) == 0 {
				nov = 0
			}
			if nov > bestNov {
				best, bestNov = c, nov
			}
		}
		if best != nil {
			return a.take(best, true, bestNov), true, nil
		}
	}
	return a.take(eligible[0], false, 0), true, nil
}

// backingOff reports whether c's sender is passed over at now: a fetch
// from it is under way, or its weights did not come lately (counted).
// Call with a.mu held.
func (a *Admission) backingOff(c *Candidate, now time.Time) bool {
	if a.inflight[c.From] > 0 {
		// One fetch from a sender at a time: a sender that stalls one
		// fetch does not tie up the other admitters meanwhile.
		return true
	}
	if !a.shunned(c.From, now) {
		return false
	}
	a.st.PassedOver++
	return true
}

// shunned reports whether from's weights did not come lately, so that its
// announcements are passed over at now (backingOff, without counting).
// Call with a.mu held.
func (a *Admission) shunned(from string, now time.Time) bool {
	b, ok := a.unreach[from]
	return ok && now.Before(b.until)
}

// overclaim is how much a sender's last measured migrant fell short of its
// claim, and when that announcement was heard.
type overclaim struct {
	by float64
	at time.Time
}

// OverclaimMemory is how long a sender's measured overclaim is discounted
// from its later claims (unless a later measure clears it first): a sender
// caught once, even with its whole claim (Bogus), is not passed over for
// good, and is measured, and caught or cleared, again after this.
const OverclaimMemory = 30 * time.Minute

// claim is c's claimed fitness less its sender's last measured overclaim,
// if that was measured on an announcement heard within OverclaimMemory
// before c. Call with a.mu held.
func (a *Admission) claim(c *Candidate) float64 {
	if o, ok := a.overclaim[c.From]; ok && c.Heard.Sub(o.at) < OverclaimMemory {
		return c.Claimed - o.by
	}
	return c.Claimed
}

// caught remembers that t's sender overclaimed by over. Call with a.mu held.
func (a *Admission) caught(t Ticket, over float64) {
	if len(a.overclaim) >= 4096 {
		for from, o := range a.overclaim { // a bound: drop those already forgiven
			if t.Heard.Sub(o.at) >= OverclaimMemory {
				delete(a.overclaim, from)
			}
		}
		if len(a.overclaim) >= 4096 {
			clear(a.overclaim) // honest senders lose nothing
		}
	}
	a.overclaim[t.From] = overclaim{by: over, at: t.Heard}
}

// residentSignatures returns the residents' signatures, cached by ID (the
// cache keeps only the residents). Call with a.mu held.
func (a *Admission) residentSignatures(res []Resident) []Signature {
	out := make([]Signature, 0, len(res))
	keep := make(map[dna.ID]Signature, len(res))
	for _, r := range res {
		s, ok := a.sigs[r.ID]
		if !ok {
			if r.Genome == nil {
				continue
			}
			s = SignatureOf(r.Genome)
		}
		keep[r.ID] = s
		out = append(out, s)
	}
	a.sigs = keep
	return out
}

// take removes c from the pool and charges the budget. Call with a.mu held.
func (a *Admission) take(c *Candidate, diverse bool, novelty float64) Ticket {
	delete(a.pool, c.From)
	if !a.recent[c.ID] {
		a.recent[c.ID] = true
		a.recentQ = append(a.recentQ, c.ID)
		if len(a.recentQ) > recentAdmitted {
			delete(a.recent, a.recentQ[0])
			a.recentQ = a.recentQ[1:]
		}
	}
	a.inflight[c.From]++
	t := Ticket{Candidate: *c, Diverse: diverse, Novelty: novelty}
	if c.Genome != nil {
		t.Cost = float64(c.Genome.FLOPs()) * float64(a.p.ValImages)
	}
	a.st.Admitted++
	if diverse {
		a.st.Diverse++
	}
	if a.p.Every > 0 {
		a.credit -= a.p.Every
	}
	if a.p.Share > 0 {
		a.flops -= t.Cost
	}
	if len(a.pool) > 0 && a.affordable() {
		a.signal() // another admitter may take the next one
	}
	return t
}

// Release gives a ticket back. spent: its re-measure ran (then measured is
// the local fitness, or NaN if the re-measure failed); otherwise nothing
// was spent (the weights could not be fetched), the budget is refunded,
// and the individual may be admitted again from a later announcement (its
// own sender's, shunned or not, or another's relay). A measure lower than
// the claim is remembered as the sender's overclaim, and discounted from
// its later claims until it measures honestly again (at most
// OverclaimMemory).
func (a *Admission) Release(t Ticket, spent bool, measured float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.release(t, spent, measured)
	if !spent {
		a.unmark(t.ID)
	}
}

// Refuse gives back a ticket that was not spent, refunding the budget, for
// an individual this node will not admit again: one that was here before,
// or that does not fit its memory budget.
func (a *Admission) Refuse(t Ticket) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.release(t, false, math.NaN())
}

// unmark forgets that id was admitted, so that it may be again. Call with
// a.mu held.
func (a *Admission) unmark(id dna.ID) {
	if !a.recent[id] {
		return
	}
	delete(a.recent, id)
	if i := slices.Index(a.recentQ, id); i >= 0 {
		a.recentQ = slices.Delete(a.recentQ, i, i+1)
	}
}

// release is Release with a.mu held, the ID left marked.
func (a *Admission) release(t Ticket, spent bool, measured float64) {
	if a.inflight[t.From]--; a.inflight[t.From] <= 0 {
		delete(a.inflight, t.From)
	}
	if !spent {
		a.st.Refunded++
		if a.p.Every > 0 {
			a.credit = min(a.credit+a.p.Every, a.p.Burst*a.p.Every)
		}
		if a.p.Share > 0 {
			// Local work may have refilled the credit meanwhile: the
			// refund does not take it past its cap.
			a.flops = max(a.flops, min(a.flops+t.Cost, a.flopsCap()))
		}
		a.signal()
		return
	}
	delete(a.unreach, t.From) // its weights came
	a.st.Remeasured++
	a.st.RemeasureFLOPs += t.Cost
	if !math.IsNaN(measured) {
		if over := t.Claimed - measured; over > 0 {
			a.caught(t, over)
		} else {
			delete(a.overclaim, t.From)
		}
	}
}

// Bogus gives back a ticket whose migrant was the sender's fault: weights
// that did not match their announcement, did not decode, or do not fit
// the genome, or a genome that does not fit this swarm's data. Nothing
// useful was measured, so the budget is refunded as for a failed fetch;
// and the sender's whole claim is remembered as its overclaim, discounted
// from its later claims until it measures honestly again (at most
// OverclaimMemory).
func (a *Admission) Bogus(t Ticket) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.release(t, false, math.NaN())
	a.unmark(t.ID) // another sender's copy may be sound
	a.st.Bogus++
	a.caught(t, t.Claimed)
}

// Unreachable gives back a ticket whose weights its sender did not serve:
// no answer, a stream that stalled or broke, every attempt of the fetch.
// The budget is refunded as for any failed fetch, and the sender's
// announcements are passed over for UnreachableBackoff at now, twice that
// after a second failure in a row, and so on up to UnreachableMaxBackoff;
// a fetch from it that succeeds ends this. A sender that never serves
// its weights (gone, overloaded, or stalling on purpose) would otherwise
// keep the admitters waiting on it, each for the fetch's whole timeout,
// with the highest claim in the pool. Nothing is charged to its peer
// score: an honest peer can go away between its announcement and the
// fetch.
func (a *Admission) Unreachable(t Ticket, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.release(t, false, math.NaN())
	a.unmark(t.ID) // another sender may serve it
	a.st.Unreachable++
	b := a.unreach[t.From]
	d := UnreachableBackoff
	for i := 0; i < b.n && d < UnreachableMaxBackoff; i++ {
		d *= 2
	}
	b.n++
	b.until = now.Add(min(d, UnreachableMaxBackoff))
	if len(a.unreach) >= 4096 {
		for from, o := range a.unreach { // a bound: drop those already over
			if !now.Before(o.until) {
				delete(a.unreach, from)
			}
		}
		if len(a.unreach) >= 4096 {
			clear(a.unreach)
		}
	}
	a.unreach[t.From] = b
}

// Stats returns the running totals and the budget's state at now.
func (a *Admission) Stats(now time.Time) AdmissionStats {
	in := len(a.nb.In(a.self, now))
	known := a.nb.Roster().Len()
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.st
	st.FLOPsCredit, st.Waiting = a.flops, len(a.pool)
	if a.p.Every > 0 {
		st.Credit = float64(a.credit) / float64(a.p.Every)
	}
	st.Known, st.Neighbours = known, in
	return st
}
