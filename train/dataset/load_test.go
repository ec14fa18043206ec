package dataset

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// checkSplits checks that a loaded synthetic set holds exactly the
// training images 0..nTrain-1 across Train and Val, and the test images
// 0..nTest-1 in order in Test, each with its own label.
func checkSplits(t *testing.T, s *Set, nTrain, nTest int) {
	t.Helper()
	size := s.ImageSize()
	seen := make([]int, nTrain)
	for _, sp := range []*Split{s.Train, s.Val} {
		if len(sp.Pixels) != sp.N*size || len(sp.Labels) != sp.N {
			t.Fatalf("split of %d: %d pixels, %d labels", sp.N, len(sp.Pixels), len(sp.Labels))
		}
		prev := -1
		for j := range sp.N {
			img := sp.Pixels[j*size : (j+1)*size]
			i := indexOf(img)
			if i >= nTrain {
				t.Fatalf("image %d has index %d, beyond %d", j, i, nTrain)
			}
			if i <= prev {
				t.Errorf("split order: index %d after %d, want the files' order", i, prev)
			}
			prev = i
			seen[i]++
			for k, p := range img {
				if p != pixelOf(i, k) {
					t.Fatalf("image %d pixel %d = %d, want %d", i, k, p, pixelOf(i, k))
				}
			}
			if sp.Labels[j] != labelOf(i, s.Classes) {
				t.Fatalf("image %d label %d, want %d", i, sp.Labels[j], labelOf(i, s.Classes))
			}
		}
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("training image %d appears %d times in Train and Val, want once", i, c)
		}
	}
	if s.Test.N != nTest {
		t.Fatalf("Test.N = %d, want %d", s.Test.N, nTest)
	}
	for j := range nTest {
		img := s.Test.Pixels[j*size : (j+1)*size]
		if indexOf(img) != j || s.Test.Labels[j] != labelOf(j, s.Classes) {
			t.Fatalf("test image %d: index %d label %d", j, indexOf(img), s.Test.Labels[j])
		}
	}
}

func TestLoadIDX(t *testing.T) {
	for _, gz := range []bool{false, true} {
		name := "plain"
		if gz {
			name = "gzip"
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "tiny-mnist")
			writeIDXSet(t, dir, idxSpec{nTrain: 300, nTest: 40, h: 5, w: 7, gz: gz})
			s, err := Load(dir, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != "tiny-mnist" || s.Format != "idx" || s.Dir != dir {
				t.Errorf("Name, Format, Dir = %q, %q, %q", s.Name, s.Format, s.Dir)
			}
			if s.H != 5 || s.W != 7 || s.C != 1 || s.Classes != 10 {
				t.Errorf("shape %dx%dx%d, %d classes; want 5x7x1, 10", s.H, s.W, s.C, s.Classes)
			}
			if s.Train.N != 270 || s.Val.N != 30 {
				t.Errorf("Train.N, Val.N = %d, %d; want 270, 30", s.Train.N, s.Val.N)
			}
			checkSplits(t, s, 300, 40)
		})
	}
}

func TestLoadCIFAR10(t *testing.T) {
	root := filepath.Join(t.TempDir(), "c10")
	writeCIFARSet(t, filepath.Join(root, "cifar-10-batches-bin"), cifar10Format, 20, 15)
	s, err := Load(root, Options{ValSize: 7, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "c10" || s.Format != "cifar10" || s.Dir != filepath.Join(root, "cifar-10-batches-bin") {
		t.Errorf("Name, Format, Dir = %q, %q, %q", s.Name, s.Format, s.Dir)
	}
	if s.H != 32 || s.W != 32 || s.C != 3 || s.Classes != 10 {
		t.Errorf("shape %dx%dx%d, %d classes; want 32x32x3, 10", s.H, s.W, s.C, s.Classes)
	}
	if s.Train.N != 93 || s.Val.N != 7 {
		t.Errorf("Train.N, Val.N = %d, %d; want 93, 7", s.Train.N, s.Val.N)
	}
	checkSplits(t, s, 100, 15)
	if len(s.Mean) != 3 || len(s.Std) != 3 {
		t.Errorf("Mean, Std have %d, %d channels; want 3", len(s.Mean), len(s.Std))
	}
}

func TestLoadCIFAR100(t *testing.T) {
	root := t.TempDir()
	writeCIFARSet(t, root, cifar100Format, 120, 10)
	s, err := Load(root, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if s.Format != "cifar100" || s.Classes != 100 || s.Train.N != 108 || s.Val.N != 12 {
		t.Errorf("Format %q, %d classes, Train.N %d, Val.N %d; want cifar100, 100, 108, 12", s.Format, s.Classes, s.Train.N, s.Val.N)
	}
	// labelOf(i, 100) is the fine label; checkSplits compares with it.
	checkSplits(t, s, 120, 10)
	if max := slices.Max(s.Train.Labels); max < 20 {
		t.Errorf("largest label %d: the coarse label (< 20) was used, not the fine one", max)
	}
}

func TestSplitDeterministic(t *testing.T) {
	dir := t.TempDir()
	writeIDXSet(t, dir, idxSpec{nTrain: 500, nTest: 10, h: 4, w: 4})
	valIndices := func(opts Options) []int {
		s, err := Load(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		var idx []int
		for j := range s.Val.N {
			idx = append(idx, indexOf(s.Val.Pixels[j*16:]))
		}
		return idx
	}
	a := valIndices(Options{ValFraction: 0.1, Seed: 42})
	b := valIndices(Options{ValFraction: 0.1, Seed: 42})
	c := valIndices(Options{ValFraction: 0.1, Seed: 43})
	if len(a) != 50 {
		t.Fatalf("10%% of 500 held out %d, want 50", len(a))
	}
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different splits:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 42 and 43 gave the same split %v", a)
	}
	// The split is pinned to the PCG generator's output, not to math/rand's
	// methods: these values must not change across Go versions.
	if want := []int{4, 5, 8, 21, 23}; !slices.Equal(a[:5], want) {
		t.Errorf("seed 42 split starts %v, want %v (was the hold-out algorithm changed?)", a[:5], want)
	}
	if n := len(valIndices(Options{ValSize: 123, ValFraction: 0.5})); n != 123 {
		t.Errorf("ValSize 123 held out %d", n)
	}
	if n := len(valIndices(Options{})); n != 0 {
		t.Errorf("zero Options held out %d, want none", n)
	}
}

func TestOptionsValidate(t *testing.T) {
	dir := t.TempDir()
	writeIDXSet(t, dir, idxSpec{nTrain: 10, nTest: 2, h: 2, w: 2})
	for _, o := range []Options{
		{ValFraction: 1}, {ValFraction: -0.1}, {ValFraction: math.NaN()}, {ValSize: -1},
		{ValSize: 10}, {ValFraction: 0.96},
	} {
		if _, err := Load(dir, o); err == nil {
			t.Errorf("Load with %+v: no error", o)
		} else if !strings.HasPrefix(err.Error(), "dataset: ") {
			t.Errorf("Load with %+v: error %q lacks the prefix", o, err)
		}
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Errorf("DefaultOptions().Validate() = %v", err)
	}
}

func TestIdentity(t *testing.T) {
	root := t.TempDir()
	plain, gz := filepath.Join(root, "a", "set"), filepath.Join(root, "b", "set")
	spec := idxSpec{nTrain: 50, nTest: 10, h: 3, w: 3}
	writeIDXSet(t, plain, spec)
	spec.gz = true
	writeIDXSet(t, gz, spec)
	identity := func(dir string) string {
		s, err := Load(dir, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		return s.Identity
	}
	id := identity(plain)
	if !strings.HasPrefix(id, "set:") || len(id) != len("set:")+64 {
		t.Errorf("Identity %q, want set:<64 hex digits>", id)
	}
	if other := identity(gz); other != id {
		t.Errorf("gzipped copy has Identity %q, plain %q; want equal", other, id)
	}
	// One pixel of one test image changes: so must the identity.
	p := filepath.Join(plain, idxTestImages)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	writeFile(t, plain, idxTestImages, b)
	if other := identity(plain); other == id {
		t.Errorf("Identity %q unchanged after a byte of %s changed", id, p)
	}

	// The same for CIFAR: a label byte of the last training batch.
	c := t.TempDir()
	writeCIFARSet(t, c, cifar10Format, 3, 2)
	before := identity(c)
	p = filepath.Join(c, "data_batch_5.bin")
	b, _ = os.ReadFile(p)
	b[0] = (b[0] + 1) % 10
	writeFile(t, c, "data_batch_5.bin", b)
	if after := identity(c); after == before {
		t.Errorf("CIFAR Identity %q unchanged after a byte of %s changed", before, p)
	}
}

func TestMeanStd(t *testing.T) {
	dir := t.TempDir()
	writeCIFARSet(t, dir, cifar10Format, 10, 3)
	s, err := Load(dir, Options{ValSize: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	plane := s.H * s.W
	for c := range s.C {
		var n, sum, sumsq float64
		for i := range s.Train.N {
			for _, p := range s.Train.Pixels[i*3*plane+c*plane : i*3*plane+(c+1)*plane] {
				x := float64(p) / 255
				n++
				sum += x
				sumsq += x * x
			}
		}
		mean := sum / n
		std := math.Sqrt(sumsq/n - mean*mean)
		if math.Abs(float64(s.Mean[c])-mean) > 1e-6 || math.Abs(float64(s.Std[c])-std) > 1e-6 {
			t.Errorf("channel %d: Mean, Std = %v, %v; want %v, %v (Train split only)", c, s.Mean[c], s.Std[c], mean, std)
		}
	}
	// A constant channel gets Std 1, not 0.
	m, sd := channelStats(&Split{N: 2, Pixels: []uint8{7, 7, 7, 7}}, 1, 2)
	if math.Abs(float64(m[0])-7.0/255) > 1e-7 || sd[0] != 1 {
		t.Errorf("constant channel: Mean, Std = %v, %v; want %v, 1", m[0], sd[0], 7.0/255)
	}
}

// TestFashionMNIST loads Debian's dataset-fashion-mnist package.
func TestFashionMNIST(t *testing.T) {
	dir := "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("%s absent (apt-get install dataset-fashion-mnist): %v", dir, err)
	}
	t.Setenv(EnvDataDir, t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	got, err := Resolve("fashion-mnist")
	if err != nil || got != dir {
		t.Fatalf("Resolve(fashion-mnist) = %q, %v; want %q", got, err, dir)
	}
	s, err := Load("fashion-mnist", DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if s.Train.N != 54000 || s.Val.N != 6000 || s.Test.N != 10000 {
		t.Errorf("splits %d/%d/%d, want 54000/6000/10000", s.Train.N, s.Val.N, s.Test.N)
	}
	if s.Classes != 10 || s.H != 28 || s.W != 28 || s.C != 1 {
		t.Errorf("%d classes, %dx%dx%d; want 10, 28x28x1", s.Classes, s.H, s.W, s.C)
	}
	if math.Abs(float64(s.Mean[0])-0.286) > 0.003 || math.Abs(float64(s.Std[0])-0.353) > 0.003 {
		t.Errorf("Mean, Std = %v, %v; want about 0.286, 0.353", s.Mean[0], s.Std[0])
	}
	counts := make([]int, 10)
	for _, l := range s.Test.Labels {
		counts[l]++
	}
	for c, n := range counts {
		if n != 1000 {
			t.Errorf("test split has %d images of class %d, want 1000", n, c)
		}
	}
	// The identity is what existing experiments pin: it must not move.
	const want = "fashion-mnist:14410854cf7a289477dcfc7df3f8ec24741e281cdcc425ede0d9a748ca630214"
	if s.Identity != want {
		t.Errorf("Identity %s, want %s", s.Identity, want)
	}
	o := DefaultOptions()
	o.TrainImages, o.ValSize = 10000, 200
	sub, err := Load("fashion-mnist", o)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Identity != want || sub.Train.N != 9800 || sub.Val.N != 200 || sub.Test.N != 10000 {
		t.Errorf("first 10,000 training images: identity %s, splits %d/%d/%d; want %s, 9800/200/10000", sub.Identity, sub.Train.N, sub.Val.N, sub.Test.N, want)
	}
}

// TestTrainImages: TrainImages keeps the first images of the training
// files, in order, holds the validation split out of them, and leaves the
// identity (the files' hash) and the test split as they were.
func TestTrainImages(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "tiny-mnist")
		writeIDXSet(t, dir, idxSpec{nTrain: 300, nTest: 40, h: 5, w: 7, gz: gz})
		all, err := Load(dir, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		o := DefaultOptions()
		o.TrainImages = 100
		s, err := Load(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		if s.Identity != all.Identity {
			t.Errorf("gzip %v: identity %s with 100 training images, %s with all", gz, s.Identity, all.Identity)
		}
		if s.Train.N != 90 || s.Val.N != 10 || s.Test.N != 40 {
			t.Errorf("gzip %v: splits %d/%d/%d, want 90/10/40", gz, s.Train.N, s.Val.N, s.Test.N)
		}
		checkSplits(t, s, 100, 40)
		o.TrainImages = 1000 // more than the files hold: all of them
		if s, err := Load(dir, o); err != nil || s.Train.N+s.Val.N != 300 {
			t.Errorf("gzip %v: TrainImages above the files' 300: %v", gz, err)
		}
	}
	if _, err := Load(t.TempDir(), Options{TrainImages: -1}); err == nil {
		t.Error("negative TrainImages accepted")
	}
}

func TestWithoutTest(t *testing.T) {
	s := memSet(t, 30, 1, 4, 4)
	s.Test = &Split{N: 3, Pixels: make([]uint8, 3*s.ImageSize()), Labels: make([]uint8, 3)}
	c := s.WithoutTest()
	if c.Test.N != 0 || len(c.Test.Pixels) != 0 || len(c.Test.Labels) != 0 {
		t.Errorf("WithoutTest: test split of %d images (%d pixels, %d labels), want none", c.Test.N, len(c.Test.Pixels), len(c.Test.Labels))
	}
	if s.Test.N == 0 {
		t.Error("WithoutTest emptied the original's test split")
	}
	if c.Train != s.Train || c.Val != s.Val || c.Identity != s.Identity || c.Mean[0] != s.Mean[0] {
		t.Error("WithoutTest changed more than the test split")
	}
	x, y := make([]float32, 2*c.ImageSize()), make([]int32, 2)
	if err := c.Batch(c.Train, []int{0, 1}, Augment{}, nil, x, y); err != nil {
		t.Error(err)
	}
	if err := c.Batch(c.Test, nil, Augment{}, nil, nil, nil); err != nil {
		t.Errorf("an empty batch of the empty test split: %v", err)
	}
}
