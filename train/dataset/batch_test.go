package dataset

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// refShift is the plain definition shiftPlane must meet: output (y, x) is
// pixel (y+dy, x+dx) of src, mirrored left to right first when flip is set;
// -1 stands for padding.
func refShift(src []uint8, h, w, dy, dx int, flip bool) []int {
	out := make([]int, h*w)
	for y := range h {
		for x := range w {
			sy, sx := y+dy, x+dx
			if sy < 0 || sy >= h || sx < 0 || sx >= w {
				out[y*w+x] = -1
				continue
			}
			if flip {
				sx = w - 1 - sx
			}
			out[y*w+x] = int(src[sy*w+sx])
		}
	}
	return out
}

// matches reports whether the normalised plane got equals ref under
// scale and shift.
func matches(got []float32, ref []int, scale, shift float32) bool {
	for k, r := range ref {
		want := shift
		if r >= 0 {
			want = float32(r)*scale + shift
		}
		if math.Abs(float64(got[k]-want)) > 1e-5 {
			return false
		}
	}
	return true
}

func TestShiftPlane(t *testing.T) {
	const h, w = 5, 7
	src := make([]uint8, h*w)
	for k := range src {
		src[k] = uint8(10 + k)
	}
	dst := make([]float32, h*w)
	const scale, shift = 0.5, -3
	var tab lut
	for p := range tab.v {
		tab.v[p] = float32(p)*scale + shift
	}
	tab.pad = shift
	for dy := -8; dy <= 8; dy++ {
		for dx := -8; dx <= 8; dx++ {
			for _, flip := range []bool{false, true} {
				shiftPlane(dst, src, h, w, dy, dx, flip, &tab)
				if !matches(dst, refShift(src, h, w, dy, dx, flip), scale, shift) {
					t.Fatalf("shiftPlane dy=%d dx=%d flip=%v: got %v", dy, dx, flip, dst)
				}
			}
		}
	}
}

func TestBatchNormalises(t *testing.T) {
	s := memSet(t, 20, 3, 4, 6)
	idx := []int{19, 0, 7, 7}
	x := make([]float32, len(idx)*s.ImageSize())
	y := make([]int32, len(idx))
	if err := s.Batch(s.Train, idx, Augment{}, nil, x, y); err != nil {
		t.Fatal(err)
	}
	plane := s.H * s.W
	for b, i := range idx {
		if y[b] != int32(s.Train.Labels[i]) {
			t.Errorf("label %d = %d, want %d", b, y[b], s.Train.Labels[i])
		}
		for k := range s.ImageSize() {
			c := k / plane
			p := s.Train.Pixels[i*s.ImageSize()+k]
			want := (float64(p)/255 - float64(s.Mean[c])) / float64(s.Std[c])
			if got := x[b*s.ImageSize()+k]; math.Abs(float64(got)-want) > 1e-5 {
				t.Fatalf("image %d value %d = %v, want %v", b, k, got, want)
			}
		}
	}
	// Normalised training data has mean 0 and std 1 per channel.
	all := make([]int, s.Train.N)
	for i := range all {
		all[i] = i
	}
	x = make([]float32, len(all)*s.ImageSize())
	y = make([]int32, len(all))
	if err := s.Batch(s.Train, all, Augment{}, nil, x, y); err != nil {
		t.Fatal(err)
	}
	for c := range s.C {
		var n, sum, sumsq float64
		for i := range all {
			for _, v := range x[i*s.ImageSize()+c*plane : i*s.ImageSize()+(c+1)*plane] {
				n++
				sum += float64(v)
				sumsq += float64(v) * float64(v)
			}
		}
		if m, v := sum/n, sumsq/n-(sum/n)*(sum/n); math.Abs(m) > 1e-4 || math.Abs(v-1) > 1e-3 {
			t.Errorf("channel %d normalised: mean %v, variance %v; want 0, 1", c, m, v)
		}
	}
}

func TestBatchAugment(t *testing.T) {
	s := memSet(t, 60, 3, 8, 8)
	aug := Augment{Pad: 4, Flip: true}
	const n = 400
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i % s.Train.N
	}
	size, plane := s.ImageSize(), s.H*s.W
	run := func(seed uint64) ([]float32, []int32) {
		x := make([]float32, n*size)
		y := make([]int32, n)
		if err := s.Batch(s.Train, idx, aug, rand.New(rand.NewPCG(seed, 0)), x, y); err != nil {
			t.Fatal(err)
		}
		return x, y
	}
	x, y := run(1)
	x2, y2 := run(1)
	x3, _ := run(2)
	if !slices.Equal(x, x2) || !slices.Equal(y, y2) {
		t.Error("same seed, different augmented batches")
	}
	if slices.Equal(x, x3) {
		t.Error("seeds 1 and 2 gave the same augmented batch")
	}
	// Every image is its source under one crop offset and flip, the same
	// for all channels; all offsets and both flips turn up.
	seenDy, seenDx := map[int]bool{}, map[int]bool{}
	flips := 0
	for b, i := range idx {
		if y[b] != int32(s.Train.Labels[i]) {
			t.Fatalf("augmented label %d = %d, want %d", b, y[b], s.Train.Labels[i])
		}
		src := s.Train.Pixels[i*size : (i+1)*size]
		img := x[b*size : (b+1)*size]
		found := false
		for dy := -aug.Pad; dy <= aug.Pad && !found; dy++ {
			for dx := -aug.Pad; dx <= aug.Pad && !found; dx++ {
				for _, flip := range []bool{false, true} {
					ok := true
					for c := range s.C {
						scale, shift := 1/(255*s.Std[c]), -s.Mean[c]/s.Std[c]
						if !matches(img[c*plane:(c+1)*plane], refShift(src[c*plane:(c+1)*plane], s.H, s.W, dy, dx, flip), scale, shift) {
							ok = false
							break
						}
					}
					if ok {
						found = true
						seenDy[dy], seenDx[dx] = true, true
						if flip {
							flips++
						}
						break
					}
				}
			}
		}
		if !found {
			t.Fatalf("augmented image %d is no crop or flip of image %d", b, i)
		}
	}
	if len(seenDy) != 9 || len(seenDx) != 9 {
		t.Errorf("crop offsets seen: rows %v, columns %v; want all of -4..4", seenDy, seenDx)
	}
	if flips < n/2-60 || flips > n/2+60 {
		t.Errorf("%d of %d images flipped, want about half", flips, n)
	}
}

func TestBatchErrors(t *testing.T) {
	s := memSet(t, 10, 1, 2, 2)
	x := make([]float32, 2*4)
	y := make([]int32, 2)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name string
		idx  []int
		aug  Augment
		rng  *rand.Rand
		x    []float32
		y    []int32
	}{
		{"short x", []int{0, 1}, Augment{}, nil, x[:7], y},
		{"long labels", []int{0}, Augment{}, nil, x[:4], y},
		{"index out of range", []int{0, 10}, Augment{}, nil, x, y},
		{"negative index", []int{-1, 0}, Augment{}, nil, x, y},
		{"negative pad", []int{0, 1}, Augment{Pad: -1}, rng, x, y},
		{"nil rng", []int{0, 1}, Augment{Flip: true}, nil, x, y},
	} {
		if err := s.Batch(s.Train, tc.idx, tc.aug, tc.rng, tc.x, tc.y); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestBatchDoesNotAllocate(t *testing.T) {
	s := memSet(t, 100, 3, 32, 32)
	idx := []int{3, 1, 4, 1, 5, 9, 2, 6}
	x := make([]float32, len(idx)*s.ImageSize())
	y := make([]int32, len(idx))
	rng := rand.New(rand.NewPCG(1, 2))
	aug := s.DefaultAugment()
	if allocs := testing.AllocsPerRun(50, func() {
		if err := s.Batch(s.Train, idx, aug, rng, x, y); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Batch allocates %v times per call, want 0", allocs)
	}
}

func TestSampler(t *testing.T) {
	const n, size = 103, 10
	s, err := NewSampler(n, size, rand.New(rand.NewPCG(5, 5)))
	if err != nil {
		t.Fatal(err)
	}
	if s.BatchesPerEpoch() != 10 {
		t.Errorf("BatchesPerEpoch = %d, want 10", s.BatchesPerEpoch())
	}
	var epochs [][]int
	for e := range 3 {
		seen := map[int]bool{}
		var order []int
		for range s.BatchesPerEpoch() {
			b := s.Next()
			if len(b) != size || s.Epoch() != e {
				t.Fatalf("batch of %d in epoch %d, want %d in %d", len(b), s.Epoch(), size, e)
			}
			for _, i := range b {
				if i < 0 || i >= n || seen[i] {
					t.Fatalf("epoch %d: index %d out of range or repeated", e, i)
				}
				seen[i] = true
			}
			order = append(order, b...)
		}
		epochs = append(epochs, order)
	}
	if slices.Equal(epochs[0], epochs[1]) {
		t.Error("two epochs in the same order")
	}
	again, _ := NewSampler(n, size, rand.New(rand.NewPCG(5, 5)))
	for k := range 10 {
		if b := again.Next(); !slices.Equal(b, epochs[0][k*size:(k+1)*size]) {
			t.Fatalf("same seed, batch %d differs", k)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { s.Next() }); allocs != 0 {
		t.Errorf("Next allocates %v times per call, want 0", allocs)
	}
	for _, bad := range []struct {
		n, size int
		rng     *rand.Rand
	}{{10, 0, rand.New(rand.NewPCG(1, 1))}, {10, 11, rand.New(rand.NewPCG(1, 1))}, {10, 5, nil}} {
		if _, err := NewSampler(bad.n, bad.size, bad.rng); err == nil {
			t.Errorf("NewSampler(%d, %d, %v): no error", bad.n, bad.size, bad.rng)
		}
	}
}
