package island

import (
	"context"
	"sync"
	"testing"

	"github.com/evoswarm/evoswarm/island/dna"
)

// inheritingTrainer is fakeTrainer that also reports what each genome
// inherited, and remembers it.
type inheritingTrainer struct {
	fakeTrainer
	mu   sync.Mutex
	told map[dna.ID]Inherited
}

func (f *inheritingTrainer) Train(ctx context.Context, g *dna.Genome, w []byte, seed uint64) (*Outcome, error) {
	out, err := f.fakeTrainer.Train(ctx, g, w, seed)
	if err != nil {
		return nil, err
	}
	out.Inherited = Inherited{Whole: int64(seed % 1000), Sliced: int64(seed % 7), New: 1 + int64(seed%13)}
	f.mu.Lock()
	f.told[g.ID()] = out.Inherited
	f.mu.Unlock()
	return out, nil
}

// TestIslandRecordsInheritance: what the trainer says each child inherited
// reaches the population's record of it.
func TestIslandRecordsInheritance(t *testing.T) {
	pop := newMemPop()
	tr := &inheritingTrainer{told: map[dna.ID]Inherited{}}
	run(t, testConfig(1, 4, 10), pop, tr, nil)
	if len(pop.inserted) == 0 {
		t.Fatal("nothing inserted")
	}
	for id, m := range pop.alive {
		got := Inherited{Whole: m.ind.InheritedParams, Sliced: m.ind.SlicedParams, New: m.ind.NewParams}
		if want := tr.told[id]; got != want {
			t.Errorf("%s: recorded %+v, the trainer said %+v", id.Short(), got, want)
		}
	}
}
