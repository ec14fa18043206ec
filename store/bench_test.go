package store

import (
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

// BenchmarkInsert inserts individuals with 100 KB of weights each, one
// synced transaction per insert, as the island does.
func BenchmarkInsert(b *testing.B) {
	s, _ := openDisk(b)
	w := weightsOf(1, 100_000)
	b.SetBytes(int64(len(w)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ind := newInd(i, dna.ID{}, 0.5)
		if err := s.Update(func(tx *Tx) error { return tx.Insert(ind, w) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
}

// BenchmarkKillAndReserve is the worker's tournament transaction: kill one,
// read the other's record and 100 KB of weights.
func BenchmarkKillAndReserve(b *testing.B) {
	s, _ := openDisk(b)
	w := weightsOf(1, 100_000)
	parent := newInd(-1, dna.ID{}, 0.9)
	if err := s.Update(func(tx *Tx) error { return tx.Insert(parent, w) }); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ind := newInd(i, dna.ID{}, 0.1)
		if err := s.Update(func(tx *Tx) error { return tx.Insert(ind, w) }); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		err := s.Update(func(tx *Tx) error {
			if err := tx.Kill(ind.ID, "lost", time.Now()); err != nil {
				return err
			}
			_, _, err := tx.Reserve(parent.ID)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAlive lists a population of 1,000 (plus 1,000 dead), as every
// worker step does.
func BenchmarkAlive(b *testing.B) {
	s, _ := openDisk(b)
	const n = 1000
	w := weightsOf(1, 1000)
	for j := 0; j < 2*n; j += 100 {
		err := s.Update(func(tx *Tx) error {
			for i := j; i < j+100; i++ {
				if err := tx.Insert(newInd(i, dna.ID{}, float64(i)/n), w); err != nil {
					return err
				}
			}
			for i := j; i < j+100; i += 2 {
				if err := tx.Kill(testID(i), "dead", t0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		err := s.View(func(tx *Tx) error {
			alive, err := tx.Alive()
			if len(alive) != n {
				b.Fatalf("Alive() listed %d, want %d", len(alive), n)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
