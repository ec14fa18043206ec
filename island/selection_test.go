package island

import (
	"math/rand/v2"
	"testing"

	"github.com/evoswarm/evoswarm/island/dna"
)

func population(fitness ...float64) []Member {
	pop := make([]Member, len(fitness))
	for i, f := range fitness {
		pop[i] = Member{ID: dna.ID{byte(i + 1)}, Fitness: f, Born: uint64(100 + i)}
	}
	return pop
}

func TestSelectWorst(t *testing.T) {
	pop := population(0.1, 0.5, 0.3, 0.9, 0.2)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		d, err := Select(pop, 5, Worst, rng)
		if err != nil {
			t.Fatal(err)
		}
		a, b := d.Pair[0], d.Pair[1]
		if a.ID == b.ID {
			t.Fatal("sampled the same individual twice")
		}
		if d.Victim == nil {
			t.Fatal("at the set-point: want a victim")
		}
		if d.Parent.Fitness < d.Victim.Fitness || d.Parent.ID == d.Victim.ID {
			t.Fatalf("parent %v, victim %v: the better must reproduce and the worse die", d.Parent, *d.Victim)
		}
		if (d.Parent.ID != a.ID && d.Parent.ID != b.ID) || (d.Victim.ID != a.ID && d.Victim.ID != b.ID) {
			t.Fatal("parent and victim must come from the pair")
		}
	}
}

func TestSelectBelowSetPoint(t *testing.T) {
	pop := population(0.1, 0.5, 0.3)
	d, err := Select(pop, 4, Worst, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if d.Victim != nil {
		t.Errorf("below the set-point nobody dies, got victim %v", *d.Victim)
	}
}

func TestSelectOldest(t *testing.T) {
	pop := population(0.9, 0.5, 0.3, 0.1)
	pop[2].Born = 1 // the oldest, though not the worst
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		d, err := Select(pop, 4, Oldest, rng)
		if err != nil {
			t.Fatal(err)
		}
		if d.Victim == nil || d.Victim.ID != pop[2].ID {
			t.Fatalf("aging: victim %v, want the oldest %v", d.Victim, pop[2])
		}
	}
}

func TestSelectUniformAndDeterministic(t *testing.T) {
	pop := population(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
	count := map[dna.ID]int{}
	var first []dna.ID
	for run := range 2 {
		rng := rand.New(rand.NewPCG(7, 7))
		for k := range 8000 {
			d, _ := Select(pop, 100, Worst, rng)
			if run == 0 {
				count[d.Pair[0].ID]++
				count[d.Pair[1].ID]++
				first = append(first, d.Parent.ID)
			} else if first[k] != d.Parent.ID {
				t.Fatalf("tournament %d differs between runs with the same seed", k)
			}
		}
	}
	for id, n := range count { // each of 8 is sampled 2000 times on average
		if n < 1700 || n > 2300 {
			t.Errorf("individual %x sampled %d times in 8000 pairs, want about 2000", id[0], n)
		}
	}
}

func TestSelectTooSmall(t *testing.T) {
	if _, err := Select(population(0.5), 2, Worst, rand.New(rand.NewPCG(1, 1))); err != ErrTooSmall {
		t.Errorf("one member: err %v, want ErrTooSmall", err)
	}
}
