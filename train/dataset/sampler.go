package dataset

import (
	"fmt"
	"math/rand/v2"
)

// Sampler deals out training batches: each epoch is a fresh random
// permutation of [0, n) cut into batches of a fixed size. The n mod size
// indices left at the end of an epoch are skipped (they are different ones
// each epoch), so every batch is full, as a graph of fixed shape needs.
// A Sampler is not safe for concurrent use.
type Sampler struct {
	rng   *rand.Rand
	perm  []int
	size  int
	pos   int
	epoch int
}

// NewSampler returns a sampler of batches of size indices into a split of
// n images, shuffled with rng; 0 < size <= n. The first permutation is
// drawn now.
func NewSampler(n, size int, rng *rand.Rand) (*Sampler, error) {
	switch {
	case rng == nil:
		return nil, fmt.Errorf("dataset: sampler needs a random generator, got nil")
	case size <= 0 || size > n:
		return nil, fmt.Errorf("dataset: batch size %d is not in [1, %d], the split's size", size, n)
	}
	s := &Sampler{rng: rng, perm: make([]int, n), size: size}
	for i := range s.perm {
		s.perm[i] = i
	}
	s.shuffle()
	return s, nil
}

// Next returns the next batch of indices. The slice belongs to the
// sampler: it is valid until the next call and must not be modified.
// Next does not allocate.
func (s *Sampler) Next() []int {
	if s.pos+s.size > len(s.perm) {
		s.shuffle()
		s.pos = 0
		s.epoch++
	}
	b := s.perm[s.pos : s.pos+s.size : s.pos+s.size]
	s.pos += s.size
	return b
}

// Epoch returns the epoch, counted from 0, of the batch Next last
// returned.
func (s *Sampler) Epoch() int { return s.epoch }

// BatchesPerEpoch returns how many batches make one epoch.
func (s *Sampler) BatchesPerEpoch() int { return len(s.perm) / s.size }

// shuffle permutes s.perm in place (Fisher-Yates).
func (s *Sampler) shuffle() {
	for i := len(s.perm) - 1; i > 0; i-- {
		j := uniform(s.rng, i+1)
		s.perm[i], s.perm[j] = s.perm[j], s.perm[i]
	}
}
