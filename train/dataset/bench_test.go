package dataset

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// BenchmarkBatch measures Batch for batches of 50 (the training batch) and
// 100 in the two shapes this project trains on, with and without CIFAR
// augmentation. ns/op is the time of one whole batch.
func BenchmarkBatch(b *testing.B) { benchBatch(b, (*Set).Batch) }

// BenchmarkBatchReference measures the per-pixel conversion Batch used
// before its lookup tables (refBatch), for comparison in the same run.
func BenchmarkBatchReference(b *testing.B) { benchBatch(b, (*Set).refBatch) }

func benchBatch(b *testing.B, batchFn func(*Set, *Split, []int, Augment, *rand.Rand, []float32, []int32) error) {
	for _, bc := range []struct {
		name    string
		c, h, w int
		aug     Augment
	}{
		{"28x28x1", 1, 28, 28, Augment{}},
		{"32x32x3", 3, 32, 32, Augment{}},
		{"32x32x3-crop-flip", 3, 32, 32, Augment{Pad: 4, Flip: true}},
	} {
		for _, batch := range []int{50, 100} {
			b.Run(fmt.Sprintf("%s/batch=%d", bc.name, batch), func(b *testing.B) {
				s := memSet(b, 1000, bc.c, bc.h, bc.w)
				rng := rand.New(rand.NewPCG(1, 2))
				sampler, err := NewSampler(s.Train.N, batch, rng)
				if err != nil {
					b.Fatal(err)
				}
				x := make([]float32, batch*s.ImageSize())
				y := make([]int32, batch)
				b.ReportAllocs()
				for b.Loop() {
					if err := batchFn(s, s.Train, sampler.Next(), bc.aug, rng, x, y); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}

// BenchmarkLoadFashionMNIST measures Load on Debian's Fashion-MNIST (26 MB
// of gzip): decompression, checks, hold-out, statistics and hashing.
func BenchmarkLoadFashionMNIST(b *testing.B) {
	const dir = "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(dir); err != nil {
		b.Skipf("%s absent: %v", dir, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(dir, DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
}
