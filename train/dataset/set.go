package dataset

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
)

// Set is a data set in memory: three splits of uint8 images in NCHW order,
// their labels, and the per-channel statistics that normalise them. A Set
// is read-only once Load returns it and may be shared by any number of
// goroutines.
type Set struct {
	// Name is "fashion-mnist", "mnist", "cifar10" or "cifar100" for a named
	// set, or the base name of the directory a set was loaded from by path.
	Name string
	// Format is how the files were stored: "idx", "cifar10" or "cifar100".
	Format string
	// Dir is the directory the files were read from.
	Dir string
	// H, W and C are the image height, width and channel count.
	H, W, C int
	// Classes is the number of classes; every label is below it.
	Classes int
	// Train and Val are the training files' images, split by Options: Val
	// holds a fixed, seeded sample, Train the rest. Test holds the test
	// files' images, kept apart: evolution must never look at it.
	// Val is empty (N == 0), not nil, when no validation split was asked for.
	Train, Val, Test *Split
	// Mean and Std hold one value per channel, in units of pixel/255,
	// computed over the Train split only (after the hold-out). Std is the
	// population standard deviation; a channel with none gets 1.
	Mean, Std []float32
	// Identity names the data exactly: Name, ":", then the hex SHA-256 of
	// the files' decompressed contents concatenated in a fixed order (IDX:
	// train images, train labels, test images, test labels; CIFAR: the
	// training batches in order, then the test batch). A gzipped and a plain
	// copy of the same files have the same Identity. It does not cover the
	// Options; an experiment ID should record both.
	Identity string
	// Options are the options the set was loaded with.
	Options Options
}

// Split is one part of a Set: N images of the Set's C x H x W uint8 pixels
// (Pixels, NCHW, image i at Pixels[i*C*H*W:]) and their labels.
type Split struct {
	N      int
	Pixels []uint8
	Labels []uint8
}

// ImageSize is the number of values in one image: C*H*W.
func (s *Set) ImageSize() int { return s.C * s.H * s.W }

// WithoutTest returns a copy of s whose Test split is empty, sharing
// everything else with s, for a holder that must never look at the test
// images (an evolving node): it lets their memory go (7.8 MB for
// Fashion-MNIST, 30.7 MB for CIFAR-10) once s itself is dropped. Identity
// still names the files read, test files included.
func (s *Set) WithoutTest() *Set {
	c := *s
	c.Test = &Split{Pixels: []uint8{}, Labels: []uint8{}}
	return &c
}

// Options control how Load splits the training files.
type Options struct {
	// ValFraction is the fraction of the training files' images held out as
	// the validation split, in [0, 1). DefaultOptions sets 0.1.
	ValFraction float64
	// ValSize, when > 0, is the number of images held out, overriding
	// ValFraction. With both zero there is no validation split.
	ValSize int
	// Seed picks the held-out images; the same seed and files give the same
	// split on every machine and Go version. DefaultOptions sets 0.
	Seed uint64
	// TrainImages, when > 0, keeps only the first TrainImages images of the
	// training files (the validation split is then held out of those). The
	// files are still read, checked and hashed whole, so the identity is
	// the files'; an IDX set never holds more than the kept images in
	// memory. For quick runs and drills (the smoke preset), not for results.
	TrainImages int
}

// DefaultOptions returns the options of the paper and this project: a 10%
// validation split with seed 0. For CIFAR's 50,000 training images that is
// the paper's 45,000/5,000; for (Fashion-)MNIST 54,000/6,000.
func DefaultOptions() Options {
	return Options{ValFraction: 0.1}
}

// Validate checks the options without looking at any data.
func (o Options) Validate() error {
	if math.IsNaN(o.ValFraction) || o.ValFraction < 0 || o.ValFraction >= 1 {
		return fmt.Errorf("dataset: ValFraction %v is not in [0, 1)", o.ValFraction)
	}
	if o.ValSize < 0 {
		return fmt.Errorf("dataset: ValSize %d is negative", o.ValSize)
	}
	if o.TrainImages < 0 {
		return fmt.Errorf("dataset: TrainImages %d is negative", o.TrainImages)
	}
	return nil
}

// valSize returns how many of n training images to hold out.
func (o Options) valSize(n int) (int, error) {
	k := o.ValSize
	if k == 0 {
		k = int(math.Round(o.ValFraction * float64(n)))
	}
	if k >= n {
		return 0, fmt.Errorf("dataset: a validation split of %d leaves no training images (the training files hold %d); lower ValSize or ValFraction", k, n)
	}
	return k, nil
}

// splitStream is the PCG stream word used with Options.Seed for the hold-out.
const splitStream = 0x65766f7377726d31 // "evoswrm1"

// newSet builds a Set from the two parts read from disk: it holds out the
// validation split, computes the statistics and the identity.
func newSet(name, format, dir string, classes int, train, test *raw, digest []byte, opts Options) (*Set, error) {
	k, err := opts.valSize(train.n)
	if err != nil {
		return nil, err
	}
	s := &Set{
		Name: name, Format: format, Dir: dir,
		H: train.h, W: train.w, C: train.c,
		Classes:  classes,
		Identity: name + ":" + hex.EncodeToString(digest),
		Options:  opts,
	}
	s.Train, s.Val = holdOut(train, k, opts.Seed)
	s.Test = &Split{N: test.n, Pixels: test.pixels, Labels: test.labels}
	s.Mean, s.Std = channelStats(s.Train, s.C, s.H*s.W)
	return s, nil
}

// holdOut moves k images of r, chosen by seed, to the end of its buffers
// and returns the two parts as splits sharing those buffers. Both parts
// keep the files' order. It needs temporary memory for k images only.
func holdOut(r *raw, k int, seed uint64) (train, val *Split) {
	size := r.c * r.h * r.w
	isVal := make([]bool, r.n)
	for _, i := range sample(rand.New(rand.NewPCG(seed, splitStream)), r.n, k) {
		isVal[i] = true
	}
	valPixels := make([]uint8, 0, k*size)
	valLabels := make([]uint8, 0, k)
	t := 0 // images kept for training so far; t <= i, so copying down is safe
	for i := range r.n {
		img := r.pixels[i*size : (i+1)*size]
		if isVal[i] {
			valPixels = append(valPixels, img...)
			valLabels = append(valLabels, r.labels[i])
			continue
		}
		if t != i {
			copy(r.pixels[t*size:(t+1)*size], img)
			r.labels[t] = r.labels[i]
		}
		t++
	}
	copy(r.pixels[t*size:], valPixels)
	copy(r.labels[t:], valLabels)
	train = &Split{N: t, Pixels: r.pixels[: t*size : t*size], Labels: r.labels[:t:t]}
	val = &Split{N: k, Pixels: r.pixels[t*size:], Labels: r.labels[t:]}
	return train, val
}

// sample returns k distinct indices in [0, n), drawn by a partial
// Fisher-Yates shuffle from rng.
func sample(rng *rand.Rand, n, k int) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := range k {
		j := i + uniform(rng, n-i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm[:k]
}

// uniform returns a uniform integer in [0, n), n > 0, by Lemire's
// multiply-and-reject method on rng.Uint64. It is written out here, rather
// than taken from rand.IntN, so that the split depends only on the PCG
// generator's specified output.
func uniform(rng *rand.Rand, n int) int {
	un := uint64(n)
	hi, lo := bits.Mul64(rng.Uint64(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(rng.Uint64(), un)
		}
	}
	return int(hi)
}

// channelStats returns each channel's mean and standard deviation over sp,
// in units of pixel/255, from exact per-channel histograms.
func channelStats(sp *Split, c, plane int) (mean, std []float32) {
	hist := make([][256]int64, c)
	size := c * plane
	for i := range sp.N {
		img := sp.Pixels[i*size : (i+1)*size]
		for ch := range c {
			h := &hist[ch]
			for _, p := range img[ch*plane : (ch+1)*plane] {
				h[p]++
			}
		}
	}
	mean = make([]float32, c)
	std = make([]float32, c)
	for ch := range c {
		var n, sum, sumsq float64
		for v, cnt := range hist[ch] {
			x := float64(v) / 255
			n += float64(cnt)
			sum += x * float64(cnt)
			sumsq += x * x * float64(cnt)
		}
		m, sd := 0.0, 1.0
		if n > 0 {
			m = sum / n
			if v := sumsq/n - m*m; v > 1e-12 {
				sd = math.Sqrt(v)
			}
		}
		mean[ch], std[ch] = float32(m), float32(sd)
	}
	return mean, std
}
