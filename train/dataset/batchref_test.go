package dataset

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refBatch is Batch as it was before the lookup tables: every pixel
// converted on its own, float32(p)*scale + shift. It is kept, verbatim but
// for its name, as the reference that Batch must reproduce bit for bit.
func (s *Set) refBatch(sp *Split, idx []int, aug Augment, rng *rand.Rand, x []float32, labels []int32) error {
	size := s.ImageSize()
	switch {
	case len(x) != len(idx)*size:
		return fmt.Errorf("dataset: batch buffer has %d values, want %d (%d images of %dx%dx%d)", len(x), len(idx)*size, len(idx), s.C, s.H, s.W)
	case len(labels) != len(idx):
		return fmt.Errorf("dataset: label buffer has %d values, want %d", len(labels), len(idx))
	case aug.Pad < 0:
		return fmt.Errorf("dataset: Augment.Pad %d is negative", aug.Pad)
	case aug.enabled() && rng == nil:
		return errors.New("dataset: augmentation needs a random generator, got nil")
	case len(sp.Pixels) != sp.N*size || len(sp.Labels) != sp.N:
		return fmt.Errorf("dataset: split of %d images does not match the set's %dx%dx%d images", sp.N, s.C, s.H, s.W)
	case len(s.Mean) != s.C || len(s.Std) != s.C:
		return fmt.Errorf("dataset: set has %d means and %d standard deviations for %d channels", len(s.Mean), len(s.Std), s.C)
	}
	plane := s.H * s.W
	for b, i := range idx {
		if i < 0 || i >= sp.N {
			return fmt.Errorf("dataset: batch index %d out of range: split has %d images", i, sp.N)
		}
		labels[b] = int32(sp.Labels[i])
		src := sp.Pixels[i*size : (i+1)*size]
		dst := x[b*size : (b+1)*size]
		dy, dx, flip := 0, 0, false
		if aug.Pad > 0 {
			dy = uniform(rng, 2*aug.Pad+1) - aug.Pad
			dx = uniform(rng, 2*aug.Pad+1) - aug.Pad
		}
		if aug.Flip {
			flip = rng.Uint64()&1 == 1
		}
		for c := range s.C {
			scale := 1 / (255 * s.Std[c])
			shift := -s.Mean[c] / s.Std[c]
			d, p := dst[c*plane:(c+1)*plane], src[c*plane:(c+1)*plane]
			if dy == 0 && dx == 0 && !flip {
				refNormalize(d, p, scale, shift)
			} else {
				refShiftPlane(d, p, s.H, s.W, dy, dx, flip, scale, shift)
			}
		}
	}
	return nil
}

func refNormalize(dst []float32, src []uint8, scale, shift float32) {
	dst = dst[:len(src)]
	for k, p := range src {
		dst[k] = float32(p)*scale + shift
	}
}

func refShiftPlane(dst []float32, src []uint8, h, w, dy, dx int, flip bool, scale, shift float32) {
	x0, x1 := max(0, -dx), min(w, w-dx)
	for y := range h {
		row := dst[y*w : (y+1)*w]
		sy := y + dy
		if sy < 0 || sy >= h || x0 >= x1 {
			for x := range row {
				row[x] = shift
			}
			continue
		}
		for x := 0; x < x0; x++ {
			row[x] = shift
		}
		for x := x1; x < w; x++ {
			row[x] = shift
		}
		srow := src[sy*w : (sy+1)*w]
		if !flip {
			refNormalize(row[x0:x1], srow[x0+dx:x1+dx], scale, shift)
			continue
		}
		out := row[x0:x1]
		for k := range out {
			out[k] = float32(srow[w-1-x0-dx-k])*scale + shift
		}
	}
}

// randomSet returns a set of n random images of c x h x w with random
// per-channel statistics, mean in [0, 1) and std in (0.01, 1].
func randomSet(rng *rand.Rand, n, c, h, w int) *Set {
	split := func(n int) *Split {
		sp := &Split{N: n, Pixels: make([]uint8, n*c*h*w), Labels: make([]uint8, n)}
		for k := range sp.Pixels {
			sp.Pixels[k] = uint8(rng.IntN(256))
		}
		for k := range sp.Labels {
			sp.Labels[k] = uint8(rng.IntN(10))
		}
		return sp
	}
	s := &Set{Name: "random", Format: "idx", H: h, W: w, C: c, Classes: 10,
		Train: split(n), Val: split(0), Test: split(0),
		Mean: make([]float32, c), Std: make([]float32, c)}
	for ch := range c {
		s.Mean[ch] = rng.Float32()
		s.Std[ch] = 0.01 + 0.99*(1-rng.Float32())
	}
	return s
}

// TestBatchMatchesReference checks that Batch writes exactly (0 ulp) the
// float32 values the per-pixel conversion wrote, with and without
// augmentation, for 1 to 6 channels (more than lutChannels takes the
// per-image tables), for data sets' real statistics and random ones, and
// that it consumes the random generator identically.
func TestBatchMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var sets []*Set
	for c := 1; c <= 6; c++ {
		for _, hw := range [][2]int{{28, 28}, {32, 32}, {5, 3}, {1, 1}} {
			sets = append(sets, randomSet(rng, 64, c, hw[0], hw[1]))
		}
	}
	// Fashion-MNIST's and CIFAR-10's statistics (as channelStats gives
	// them), and a set whose channel has no spread (Std 1).
	fm := randomSet(rng, 64, 1, 28, 28)
	fm.Mean[0], fm.Std[0] = 0.28604063, 0.3530242
	cf := randomSet(rng, 64, 3, 32, 32)
	copy(cf.Mean, []float32{0.4914, 0.4822, 0.4465})
	copy(cf.Std, []float32{0.2470, 0.2435, 0.2616})
	flat := randomSet(rng, 64, 2, 6, 6)
	flat.Mean[1], flat.Std[1] = 0, 1
	sets = append(sets, fm, cf, flat)
	// Every pixel value in every channel at least once.
	all := randomSet(rng, 256, 3, 16, 16)
	for i := range all.Train.N {
		for k := range all.ImageSize() {
			all.Train.Pixels[i*all.ImageSize()+k] = uint8(i + k)
		}
	}
	sets = append(sets, all)

	for _, s := range sets {
		for _, aug := range []Augment{{}, {Flip: true}, {Pad: 2}, {Pad: 4, Flip: true}, {Pad: 40, Flip: true}} {
			idx := make([]int, 100)
			for k := range idx {
				idx[k] = rng.IntN(s.Train.N)
			}
			size := s.ImageSize()
			got, want := make([]float32, len(idx)*size), make([]float32, len(idx)*size)
			gl, wl := make([]int32, len(idx)), make([]int32, len(idx))
			seed := rng.Uint64()
			r1, r2 := rand.New(rand.NewPCG(seed, 1)), rand.New(rand.NewPCG(seed, 1))
			if err := s.Batch(s.Train, idx, aug, r1, got, gl); err != nil {
				t.Fatal(err)
			}
			if err := s.refBatch(s.Train, idx, aug, r2, want, wl); err != nil {
				t.Fatal(err)
			}
			for k := range got {
				if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
					t.Fatalf("%dx%dx%d %+v: value %d = %v (%08x), reference %v (%08x)",
						s.C, s.H, s.W, aug, k, got[k], math.Float32bits(got[k]), want[k], math.Float32bits(want[k]))
				}
			}
			for k := range gl {
				if gl[k] != wl[k] {
					t.Fatalf("%dx%dx%d %+v: label %d = %d, reference %d", s.C, s.H, s.W, aug, k, gl[k], wl[k])
				}
			}
			if r1.Uint64() != r2.Uint64() {
				t.Fatalf("%dx%dx%d %+v: Batch drew a different amount of randomness", s.C, s.H, s.W, aug)
			}
		}
	}
}
