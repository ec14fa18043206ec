package dataset

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Augment is the random augmentation Batch applies to each image it
// copies. The zero value applies none (use it for validation and test).
type Augment struct {
	// Pad, when > 0, enables the random crop: the image is padded by Pad
	// pixels of value 0 on every side and an H x W window is cut from it at
	// a uniformly random offset (so it moves by -Pad..Pad pixels each way).
	// The padding is black in pixel units, so it normalises to -Mean/Std.
	Pad int
	// Flip mirrors the image left to right with probability 1/2.
	Flip bool
}

// enabled reports whether a uses the random generator.
func (a Augment) enabled() bool { return a.Pad > 0 || a.Flip }

// DefaultAugment returns the training augmentation usual for s's format:
// for CIFAR, a random crop with 4 pixels of padding and a random horizontal
// flip; for IDX data sets (digits, garments), none.
func (s *Set) DefaultAugment() Augment {
	if s.Format == formatCIFAR10 || s.Format == formatCIFAR100 {
		return Augment{Pad: 4, Flip: true}
	}
	return Augment{}
}

// Batch fills x and labels with the images idx of sp, a split of s. x
// receives len(idx) images of C*H*W float32 values in NCHW order, each
// pixel p of channel c normalised to (p/255 - Mean[c]) / Std[c]; labels
// receives their labels. With an enabled aug, each image is augmented with
// random numbers drawn from rng, in a fixed order (crop row offset, column
// offset, then flip, for each image in turn), so the same rng state gives
// the same batch. rng may be nil when aug is the zero Augment.
//
// Batch does not allocate; x and labels are the caller's to reuse. It
// returns an error, and leaves x partly written, when a length does not
// match or an index is out of range. It reads s and sp only, so several
// goroutines may call it at once with their own buffers and generators.
func (s *Set) Batch(sp *Split, idx []int, aug Augment, rng *rand.Rand, x []float32, labels []int32) error {
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
	// Each channel's 256 possible normalised values, computed once per
	// call with the same float32 expression as ever, so that a batch holds
	// exactly the values it did when every pixel was converted on its own.
	// Sets of more than lutChannels channels (none of the formats read
	// here) convert pixel by pixel.
	var tables [lutChannels]lut
	if s.C <= lutChannels {
		for c := range s.C {
			tables[c].fill(s.Mean[c], s.Std[c])
		}
	}
	var scratch lut
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
			t := &scratch
			if s.C <= lutChannels {
				t = &tables[c]
			} else {
				t.fill(s.Mean[c], s.Std[c])
			}
			d, p := dst[c*plane:(c+1)*plane], src[c*plane:(c+1)*plane]
			if dy == 0 && dx == 0 && !flip {
				t.apply(d, p)
			} else {
				shiftPlane(d, p, s.H, s.W, dy, dx, flip, t)
			}
		}
	}
	return nil
}

// lutChannels is the most channels whose tables Batch keeps at once (on
// its stack: 1 KiB a channel).
const lutChannels = 4

// lut maps a pixel value to its normalised float32 value; pad is the value
// of the augmentation's padding (pixel value 0).
type lut struct {
	v   [256]float32
	pad float32
}

// fill sets t for a channel of the given mean and standard deviation:
// t.v[p] = float32(p)*scale + shift with scale = 1/(255*std) and
// shift = -mean/std, each rounded to float32 as Batch always computed them,
// and t.pad = shift.
func (t *lut) fill(mean, std float32) {
	scale := 1 / (255 * std)
	shift := -mean / std
	for p := range t.v {
		t.v[p] = float32(p)*scale + shift
	}
	t.pad = shift
}

// apply sets dst[k] = t.v[src[k]].
func (t *lut) apply(dst []float32, src []uint8) {
	dst = dst[:len(src)]
	v := &t.v
	for len(src) >= 8 {
		d := dst[:8:8]
		s := src[:8:8]
		d[0], d[1], d[2], d[3] = v[s[0]], v[s[1]], v[s[2]], v[s[3]]
		d[4], d[5], d[6], d[7] = v[s[4]], v[s[5]], v[s[6]], v[s[7]]
		dst, src = dst[8:], src[8:]
	}
	for k, p := range src {
		dst[k] = v[p]
	}
}

// shiftPlane writes to dst (h x w) the plane src moved so that
// dst(y, x) = src'(y+dy, x+dx), where src' is src mirrored left to right
// when flip is set, each pixel mapped through t, and positions outside
// src are padding (t.pad).
func shiftPlane(dst []float32, src []uint8, h, w, dy, dx int, flip bool, t *lut) {
	v, pad := &t.v, t.pad
	x0, x1 := max(0, -dx), min(w, w-dx) // output columns that come from src
	for y := range h {
		row := dst[y*w : (y+1)*w]
		sy := y + dy
		if sy < 0 || sy >= h || x0 >= x1 {
			for x := range row {
				row[x] = pad
			}
			continue
		}
		for x := range row[:x0] {
			row[x] = pad
		}
		for x := range row[x1:] {
			row[x1+x] = pad
		}
		srow := src[sy*w : (sy+1)*w]
		out := row[x0:x1]
		if !flip {
			in := srow[x0+dx : x1+dx]
			out = out[:len(in)]
			for k, p := range in {
				out[k] = v[p]
			}
			continue
		}
		// Mirrored: output column x reads mirrored column x+dx, which is
		// source column w-1-x-dx; in holds those columns, last first.
		in := srow[w-x1-dx : w-x0-dx]
		out = out[:len(in)]
		for k := range out {
			out[k] = v[in[len(in)-1-k]]
		}
	}
}
