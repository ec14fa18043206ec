//go:build gpu

package cuda

// GPU tests: every kernel and Gemm on the GPU against the CPU emulator
// (train/cuda/emu runs the same kernels.cu compiled as C). They skip when
// no CUDA device is there (the driver reports none, or fails to count);
// a device that is there but does not open is a failure.
//
// Built here with the SDK of scripts/cuda-sdk.sh and run on a GPU machine:
//
//	go test -tags gpu -c -o cuda.test ./train/cuda/
//	LD_LIBRARY_PATH=<dir of libcublas.so.13> ./cuda.test -test.v
//
// EVOSWARM_CUDA_DEVICE picks the device (default 0), EVOSWARM_CUDA_PTX a
// PTX file to load instead of the embedded one, EVOSWARM_CUDA_SYNC=1
// checks every launch synchronously. EVOSWARM_CUDA_TEST_EMU=1 puts a
// second emulator in the GPU's place, to test these tests without a GPU.

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/train/cuda/emu"
	"github.com/evoswarm/evoswarm/train/device"
)

var (
	gpuOnce sync.Once
	gpuDev  device.Device
	gpuOrd  int
	gpuErr  error
	gpuSkip string
)

var emuMode = os.Getenv("EVOSWARM_CUDA_TEST_EMU") == "1"

// openTestDevice opens a device of the kind under test.
func openTestDevice(ordinal int) (device.Device, error) {
	if emuMode {
		return emu.New(), nil
	}
	return Open(ordinal)
}

// gpu returns the shared test device, or skips the test.
func gpu(t testing.TB) device.Device {
	t.Helper()
	gpuOnce.Do(func() {
		if emuMode {
			gpuDev = emu.New()
			fmt.Println("cuda test device: EVOSWARM_CUDA_TEST_EMU=1, the emulator in the GPU's place")
			return
		}
		n, err := backend{}.Count()
		if err != nil {
			gpuSkip = fmt.Sprintf("no CUDA: %v", err)
			return
		}
		if n == 0 {
			gpuSkip = "no CUDA device"
			return
		}
		ord := 0
		if s := os.Getenv("EVOSWARM_CUDA_DEVICE"); s != "" {
			if ord, err = strconv.Atoi(s); err != nil {
				gpuErr = fmt.Errorf("EVOSWARM_CUDA_DEVICE=%q: %v", s, err)
				return
			}
		}
		t0 := time.Now()
		gpuOrd = ord
		var d *Device
		if d, gpuErr = Open(ord); gpuErr == nil {
			gpuDev = d
			fmt.Printf("cuda test device: %s\n  PTX: %s\n  opened in %v (%d devices)\n",
				d.Name(), d.PTXSource(), time.Since(t0).Round(time.Millisecond), n)
		}
	})
	if gpuSkip != "" {
		t.Skip(gpuSkip)
	}
	if gpuErr != nil {
		t.Fatalf("open: %v", gpuErr)
	}
	return gpuDev
}

func TestMain(m *testing.M) {
	code := m.Run()
	if gpuDev != nil {
		if err := gpuDev.Close(); err != nil {
			fmt.Println("close:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestDeviceInfo(t *testing.T) {
	d := gpu(t)
	t.Logf("%s", d.Name())
	if cd, ok := d.(*Device); ok {
		t.Logf("PTX: %s", cd.PTXSource())
	}
	free, total, err := d.MemInfo()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("memory: %.2f GiB free of %.2f GiB", float64(free)/(1<<30), float64(total)/(1<<30))
	if total <= 0 || free <= 0 || free > total {
		t.Errorf("MemInfo %d, %d", free, total)
	}
	names := device.Registered()
	found := false
	for _, n := range names {
		found = found || n == "cuda"
	}
	if !found && !emuMode {
		t.Errorf("backend not registered: %v", names)
	}
}

// ---------------------------------------------------------------- harness

// tbuf is one buffer of a comparison: its initial contents (int32 when
// ints is set) and the tolerance its result is compared with.
type tbuf struct {
	name string
	init []float32
	ints []int32
	tol  float64 // 0: the default; < 0: not compared (scratch)
}

func randn(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

func randPos(r *rand.Rand, n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + r.Float64()*(hi-lo))
	}
	return v
}

// runOn allocates and uploads bufs on d, runs op, and downloads them all.
func runOn(t *testing.T, d device.Device, bufs []tbuf, op func(d device.Device, b []device.Buf)) [][]float32 {
	t.Helper()
	end, err := d.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	bs := make([]device.Buf, len(bufs))
	for i, tb := range bufs {
		n := len(tb.init)
		if tb.ints != nil {
			n = len(tb.ints)
		}
		b, err := d.Alloc(n)
		if err != nil {
			t.Fatalf("%s: alloc %s: %v", d.Name(), tb.name, err)
		}
		if tb.ints != nil {
			err = d.UploadInt32(b, tb.ints)
		} else {
			err = d.Upload(b, tb.init)
		}
		if err != nil {
			t.Fatalf("%s: upload %s: %v", d.Name(), tb.name, err)
		}
		bs[i] = b
	}
	op(d, bs)
	if err := d.Sync(); err != nil {
		t.Fatalf("%s: %v", d.Name(), err)
	}
	out := make([][]float32, len(bufs))
	for i, b := range bs {
		out[i] = make([]float32, b.Len())
		if err := d.Download(out[i], b); err != nil {
			t.Fatalf("%s: download %s: %v", d.Name(), bufs[i].name, err)
		}
		d.Free(b)
	}
	if err := d.Sync(); err != nil {
		t.Fatalf("%s: %v", d.Name(), err)
	}
	return out
}

// maxRelErr compares got with want: the largest |got-want| / max(|want|,
// floor), floor = 1e-3*max|want| (so values near zero in a buffer of large
// ones are not judged alone). NaN must match NaN; where it does not, the
// error is +Inf.
func maxRelErr(got, want []float32) (worst float64, at int) {
	var peak float64
	for _, w := range want {
		if a := math.Abs(float64(w)); !math.IsNaN(a) && !math.IsInf(a, 0) && a > peak {
			peak = a
		}
	}
	floor := max(1e-3*peak, 1e-30)
	at = -1
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		var e float64
		switch {
		case math.IsNaN(w) || math.IsNaN(g):
			if math.IsNaN(w) != math.IsNaN(g) {
				e = math.Inf(1)
			}
		case math.IsInf(w, 0) || math.IsInf(g, 0):
			if g != w {
				e = math.Inf(1)
			}
		default:
			e = math.Abs(g-w) / max(math.Abs(w), floor)
		}
		if e > worst || at < 0 {
			worst, at = e, i
		}
	}
	return worst, at
}

const defaultTol = 1e-4

// compare runs op on the GPU and on the emulator and compares every buffer
// afterwards.
func compare(t *testing.T, label string, bufs []tbuf, op func(d device.Device, b []device.Buf)) {
	t.Helper()
	g := gpu(t)
	e := emu.New()
	defer e.Close()
	t0 := time.Now()
	got := runOn(t, g, bufs, op)
	dt := time.Since(t0)
	want := runOn(t, e, bufs, op)
	worstAll := 0.0
	for i, tb := range bufs {
		if tb.ints != nil {
			for j, v := range tb.ints {
				if math.Float32bits(got[i][j]) != uint32(v) {
					t.Errorf("%s: int buffer %s[%d] changed: %d", label, tb.name, j, int32(math.Float32bits(got[i][j])))
					break
				}
			}
			continue
		}
		tol := tb.tol
		if tol == 0 {
			tol = defaultTol
		}
		if tol < 0 { // scratch: not compared
			continue
		}
		worst, at := maxRelErr(got[i], want[i])
		worstAll = max(worstAll, worst)
		if worst > tol {
			t.Errorf("%s: %s: max rel error %.3g > %.3g at [%d]: gpu %g, emu %g",
				label, tb.name, worst, tol, at, got[i][at], want[i][at])
		}
	}
	t.Logf("%-44s max rel error %.3g (%d buffers, gpu round trip %v)", label, worstAll, len(bufs),
		dt.Round(time.Microsecond))
}

// ---------------------------------------------------------------- kernels

func TestFillAdd(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	compare(t, "Fill n=777 of 1000", []tbuf{{name: "x", init: randn(r, 1000, 1)}},
		func(d device.Device, b []device.Buf) { d.Fill(b[0], 777, 3.5) })
	compare(t, "Fill n=1e6", []tbuf{{name: "x", init: make([]float32, 1<<20)}},
		func(d device.Device, b []device.Buf) { d.Fill(b[0], 1<<20, -0.25) })
	compare(t, "Add n=10007", []tbuf{{name: "y", init: randn(r, 10007, 1)}, {name: "x", init: randn(r, 10007, 1)}},
		func(d device.Device, b []device.Buf) { d.Add(b[0], b[1], 10007) })
}

func TestToCNHW(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	n, c, hw := 3, 5, 49
	compare(t, "ToCNHW 3x5x49", []tbuf{{name: "x", init: randn(r, n*c*hw, 1)}, {name: "y", init: randn(r, n*c*hw, 1)}},
		func(d device.Device, b []device.Buf) { d.ToCNHW(b[0], b[1], n, c, hw) })
}

func convGeoms() []device.ConvGeom {
	out := func(h, k, s, p int) int { return (h+2*p-k)/s + 1 }
	mk := func(n, c, h, w, kh, kw, s, ph, pw int) device.ConvGeom {
		return device.ConvGeom{N: n, C: c, H: h, W: w, KH: kh, KW: kw, Stride: s, PadH: ph, PadW: pw,
			OH: out(h, kh, s, ph), OW: out(w, kw, s, pw)}
	}
	return []device.ConvGeom{
		mk(4, 3, 9, 8, 3, 3, 2, 1, 1),
		mk(3, 2, 7, 7, 3, 3, 1, 1, 1),
		mk(2, 4, 6, 5, 1, 1, 1, 0, 0),
		mk(3, 2, 8, 9, 5, 3, 2, 2, 1),
		mk(5, 1, 28, 28, 3, 3, 1, 1, 1),
	}
}

func TestIm2colCol2im(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, g := range convGeoms() {
		for _, chunk := range [][2]int{{0, g.N}, {1, g.N - 2}} {
			n0, nb := chunk[0], chunk[1]
			if nb <= 0 {
				continue
			}
			images := g.C * g.N * g.H * g.W
			cols := g.K() * nb * g.OH * g.OW
			label := fmt.Sprintf("Im2col %+v n0=%d nb=%d", g, n0, nb)
			compare(t, shorten(label), []tbuf{{name: "x", init: randn(r, images, 1)}, {name: "cols", init: randn(r, cols, 1)}},
				func(d device.Device, b []device.Buf) { d.Im2col(b[0], b[1], g, n0, nb) })
			label = fmt.Sprintf("Col2im %+v n0=%d nb=%d", g, n0, nb)
			compare(t, shorten(label), []tbuf{{name: "cols", init: randn(r, cols, 1)}, {name: "dx", init: randn(r, images, 1)}},
				func(d device.Device, b []device.Buf) { d.Col2im(b[0], b[1], g, n0, nb) })
		}
	}
}

func shorten(s string) string {
	const n = 44
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func TestBatchNorm(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, cp := range [][2]int{{7, 333}, {16, 50 * 14 * 14}, {3, 1}} {
		c, p := cp[0], cp[1]
		x := randn(r, c*p, 2)
		for i := range x {
			x[i] += float32(i / p) // per-channel offsets
		}
		sum := make([]float32, c)
		for i, v := range x {
			sum[i/p] += v
		}
		lbl := func(s string) string { return fmt.Sprintf("%s c=%d p=%d", s, c, p) }
		compare(t, lbl("BNCenterSq"), []tbuf{{name: "x", init: x}, {name: "sum", init: sum}, {name: "t", init: randn(r, c*p, 1)}},
			func(d device.Device, b []device.Buf) { d.BNCenterSq(b[0], b[1], b[2], c, p) })
		compare(t, lbl("BNFinalize"), []tbuf{
			{name: "sum", init: sum}, {name: "sq", init: randPos(r, c, 0, 10*float64(p))},
			{name: "mean", init: randn(r, c, 1)}, {name: "invStd", init: randn(r, c, 1)},
			{name: "runMean", init: randn(r, c, 1)}, {name: "runVar", init: randPos(r, c, 0.5, 2)}},
			func(d device.Device, b []device.Buf) {
				d.BNFinalize(b[0], b[1], b[2], b[3], b[4], b[5], c, p, 0.1, 1e-5)
			})
		compare(t, lbl("BNInferStats"), []tbuf{{name: "runVar", init: randPos(r, c, 0, 3)}, {name: "invStd", init: randn(r, c, 1)}},
			func(d device.Device, b []device.Buf) { d.BNInferStats(b[0], b[1], c, 1e-5) })
		mean, invStd := randn(r, c, 1), randPos(r, c, 0.2, 3)
		scale, offset := randPos(r, c, 0.5, 1.5), randn(r, c, 0.3)
		compare(t, lbl("BNReLU"), []tbuf{{name: "x", init: x}, {name: "mean", init: mean}, {name: "invStd", init: invStd},
			{name: "scale", init: scale}, {name: "offset", init: offset}, {name: "y", init: randn(r, c*p, 1)}},
			func(d device.Device, b []device.Buf) { d.BNReLU(b[0], b[1], b[2], b[3], b[4], b[5], c, p) })
		y := randn(r, c*p, 1) // about half of it > 0
		compare(t, lbl("BNBackwardPrep"), []tbuf{{name: "dy", init: randn(r, c*p, 1)}, {name: "y", init: y}, {name: "x", init: x},
			{name: "mean", init: mean}, {name: "invStd", init: invStd}, {name: "g1", init: randn(r, c*p, 1)}, {name: "g2", init: randn(r, c*p, 1)}},
			func(d device.Device, b []device.Buf) {
				d.BNBackwardPrep(b[0], b[1], b[2], b[3], b[4], b[5], b[6], c, p)
			})
		compare(t, lbl("BNBackwardData"), []tbuf{{name: "g1", init: randn(r, c*p, 1)}, {name: "x", init: x}, {name: "mean", init: mean},
			{name: "invStd", init: invStd}, {name: "scale", init: scale}, {name: "dScale", init: randn(r, c, 5)},
			{name: "dOffset", init: randn(r, c, 5)}, {name: "dx", init: randn(r, c*p, 1)}},
			func(d device.Device, b []device.Buf) {
				d.BNBackwardData(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], c, p)
			})
	}
}

func TestReconcile(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, s := range [][7]int{
		{2, 3, 5, 4, 5, 7, 3},   // more channels, taller, narrower
		{2, 6, 8, 8, 4, 3, 5},   // fewer channels, smaller
		{3, 4, 7, 7, 4, 14, 14}, // upsample 2x
		{3, 4, 14, 14, 4, 7, 7}, // downsample 2x
		{1, 2, 3, 3, 2, 3, 3},   // identity
	} {
		n, c1, h1, w1, c, h, w := s[0], s[1], s[2], s[3], s[4], s[5], s[6]
		compare(t, fmt.Sprintf("Reconcile %v", s), []tbuf{{name: "x", init: randn(r, c1*n*h1*w1, 1)}, {name: "y", init: randn(r, c*n*h*w, 1)}},
			func(d device.Device, b []device.Buf) { d.Reconcile(b[0], b[1], n, c1, h1, w1, c, h, w) })
		compare(t, fmt.Sprintf("ReconcileBackward %v", s), []tbuf{{name: "dy", init: randn(r, c*n*h*w, 1)}, {name: "dx", init: randn(r, c1*n*h1*w1, 1)}},
			func(d device.Device, b []device.Buf) { d.ReconcileBackward(b[0], b[1], n, c1, h1, w1, c, h, w) })
	}
}

func TestHead(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	rows, hw := 12, 49
	compare(t, "GAPBackward 12x49", []tbuf{{name: "dg", init: randn(r, rows, 1)}, {name: "dx", init: randn(r, rows*hw, 1)}},
		func(d device.Device, b []device.Buf) { d.GAPBackward(b[0], b[1], rows, hw) })
	compare(t, "AddBias 10x50", []tbuf{{name: "y", init: randn(r, 500, 1)}, {name: "b", init: randn(r, 10, 1)}},
		func(d device.Device, b []device.Buf) { d.AddBias(b[0], b[1], 10, 50) })
	for _, kn := range [][2]int{{10, 64}, {100, 37}, {2, 1}} {
		k, n := kn[0], kn[1]
		labels := make([]int32, n)
		for i := range labels {
			labels[i] = int32(r.Intn(k))
		}
		if n > 3 {
			labels[3] = -1 // invalid: NaN loss and gradient on both
		}
		compare(t, fmt.Sprintf("SoftmaxXent k=%d n=%d", k, n), []tbuf{
			{name: "logits", init: randn(r, k*n, 4)}, {name: "labels", ints: labels},
			{name: "loss", init: randn(r, n, 1), tol: 1e-3}, {name: "dLogits", init: randn(r, k*n, 1), tol: 1e-3}},
			func(d device.Device, b []device.Buf) { d.SoftmaxXent(b[0], b[1], b[2], b[3], k, n) })
	}
}

func TestChannelSum(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	for _, cp := range [][2]int{{7, 333}, {16, 50 * 14 * 14}, {3, 1}, {2, 1024}, {5, 1025}} {
		c, p := cp[0], cp[1]
		x := randn(r, c*p, 1)
		for i := range x {
			x[i] += 3 // a mean that float32 sums would lose digits to
		}
		compare(t, fmt.Sprintf("ChannelSum c=%d p=%d", c, p), []tbuf{
			{name: "x", init: x}, {name: "part", init: make([]float32, device.PartFloats(c, p)), tol: -1},
			{name: "out", init: randn(r, c, 1), tol: 1e-6}},
			func(d device.Device, b []device.Buf) { d.ChannelSum(b[0], b[1], b[2], c, p, 0.5) })
	}
}

func TestSGD(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	n := 5003
	compare(t, "SGD n=5003", []tbuf{{name: "w", init: randn(r, n, 1)}, {name: "v", init: randn(r, n, 0.1)}, {name: "g", init: randn(r, n, 1)}},
		func(d device.Device, b []device.Buf) { d.SGD(b[0], b[1], b[2], n, 0.05, 0.9, 5e-4) })
}

// ---------------------------------------------------------------- Gemm

func TestGemm(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	type shape struct{ m, n, k, padA, padB, padC, offA, offB, offC int }
	shapes := []shape{
		{37, 53, 29, 0, 0, 0, 0, 0, 0},
		{37, 53, 29, 3, 5, 7, 11, 13, 17}, // leading dimensions > width, views at offsets
		{1, 1, 1, 0, 0, 0, 0, 0, 0},
		{64, 1568, 288, 0, 0, 0, 0, 0, 0}, // a conv layer of the reference CNN
		{10, 50, 64, 2, 0, 1, 0, 3, 0},    // the FC layer
		{5, 7, 0, 0, 0, 0, 0, 0, 0},       // k = 0: C = beta*C
	}
	for _, s := range shapes {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			tA, tB := tr[0], tr[1]
			ar, ac := s.m, s.k
			if tA {
				ar, ac = s.k, s.m
			}
			br, bc := s.k, s.n
			if tB {
				br, bc = s.n, s.k
			}
			lda, ldb, ldc := max(ac, 1)+s.padA, max(bc, 1)+s.padB, s.n+s.padC
			na, nb, nc := s.offA+ar*lda+5, s.offB+br*ldb+5, s.offC+s.m*ldc+5
			for _, ab := range [][2]float32{{1, 0}, {0.5, -1.5}} {
				alpha, beta := ab[0], ab[1]
				label := fmt.Sprintf("Gemm tA=%v tB=%v %dx%dx%d ld+%d,%d,%d a=%g b=%g", tA, tB, s.m, s.n, s.k, s.padA, s.padB, s.padC, alpha, beta)
				// C's tolerance: its entries are sums of k products of
				// unit normals, of size about sqrt(k), that cancel to
				// near zero in places; cuBLAS and gonum add them in
				// different orders. On an H100 the largest error, over
				// the floor of 1e-3 of the largest entry, was 3.1e-4 at
				// k = 288 (float32 rounding: 2.4e-5 absolute on entries
				// of about 17); a wrong operand or transpose is O(1).
				compare(t, shorten(label), []tbuf{
					{name: "A", init: randn(r, na, 1)}, {name: "B", init: randn(r, nb, 1)}, {name: "C", init: randn(r, nc, 1), tol: 2e-3}},
					func(d device.Device, b []device.Buf) {
						d.Gemm(tA, tB, s.m, s.n, s.k, alpha, d.View(b[0], s.offA, na-s.offA), lda,
							d.View(b[1], s.offB, nb-s.offB), ldb, beta, d.View(b[2], s.offC, nc-s.offC), ldc)
					})
			}
		}
	}
}

// TestGemmSpeed times a large SGEMM (information only).
func TestGemmSpeed(t *testing.T) {
	d := gpu(t)
	if testing.Short() || emuMode {
		t.Skip("short, or the emulator")
	}
	end, err := d.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	const n = 4096
	var bufs [3]device.Buf
	for i := range bufs {
		if bufs[i], err = d.Alloc(n * n); err != nil {
			t.Fatal(err)
		}
		defer d.Free(bufs[i])
	}
	d.Fill(bufs[0], n*n, 0.5)
	d.Fill(bufs[1], n*n, 0.25)
	d.Gemm(false, false, n, n, n, 1, bufs[0], n, bufs[1], n, 0, bufs[2], n) // warm up
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	const reps = 10
	t0 := time.Now()
	for range reps {
		d.Gemm(false, false, n, n, n, 1, bufs[0], n, bufs[1], n, 0, bufs[2], n)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	dt := time.Since(t0) / reps
	t.Logf("SGEMM %dx%dx%d: %v, %.2f TFLOP/s (FP32)", n, n, n, dt, 2*n*n*n/dt.Seconds()/1e12)
	got := make([]float32, 3)
	if err := d.Download(got, bufs[2]); err != nil {
		t.Fatal(err)
	}
	if want := float32(n * 0.5 * 0.25); got[0] != want {
		t.Errorf("C[0] = %g, want %g", got[0], want)
	}

	// Launch overhead: many small kernels.
	const launches = 2000
	t0 = time.Now()
	for range launches {
		d.Add(bufs[2], bufs[1], 1024)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d small launches: %v each", launches, (time.Since(t0) / launches).Round(100*time.Nanosecond))
	// Memory bandwidth: a large Add (3 x 64 MiB of traffic).
	t0 = time.Now()
	for range reps {
		d.Add(bufs[2], bufs[1], n*n)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	dt = time.Since(t0) / reps
	t.Logf("Add of %d values: %v, %.0f GB/s", n*n, dt, 3*4*n*n/dt.Seconds()/1e9)
}

// ---------------------------------------------------------------- memory, errors, threads

func TestMemory(t *testing.T) {
	d := gpu(t)
	end, err := d.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	if !emuMode {
		if _, err := d.Begin(); err == nil {
			t.Fatal("a nested Begin succeeded")
		}
	}
	z, err := d.Alloc(0)
	if err != nil {
		t.Fatalf("Alloc(0): %v", err)
	}
	b, err := d.Alloc(1000)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 1000)
	if err := d.Download(got, b); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != 0 {
			t.Fatalf("Alloc not zeroed: [%d] = %g", i, v)
		}
	}
	src := make([]float32, 1000)
	for i := range src {
		src[i] = float32(i)
	}
	if err := d.Upload(b, src); err != nil {
		t.Fatal(err)
	}
	// Views: write through one, read through another.
	v := d.View(b, 100, 50)
	d.Fill(v, 50, -1)
	part := make([]float32, 10)
	if err := d.Download(part, d.View(b, 95, 10)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []float32{95, 96, 97, 98, 99, -1, -1, -1, -1, -1} {
		if part[i] != want {
			t.Errorf("view: [%d] = %g, want %g", 95+i, part[i], want)
		}
	}
	// Copy, including overlapping ranges.
	c, _ := d.Alloc(1000)
	d.Copy(c, b)
	d.Copy(d.View(c, 1, 500), d.View(c, 0, 500))
	if err := d.Download(got, c); err != nil {
		t.Fatal(err)
	}
	// c was b = [0..99, -1 x 50, 150..999]; now c[i+1] = old c[i] for i < 500.
	if got[0] != 0 || got[1] != 0 || got[2] != 1 || got[100] != 99 || got[101] != -1 || got[151] != 150 || got[500] != 499 || got[501] != 501 {
		t.Errorf("overlapping copy: %v ... %v ... %v", got[:4], got[99:103], got[499:504])
	}
	// Int32 round trip through the same buffers.
	ints := []int32{-7, 0, 1 << 30, 42}
	if err := d.UploadInt32(c, ints); err != nil {
		t.Fatal(err)
	}
	if err := d.Download(got[:4], c); err != nil {
		t.Fatal(err)
	}
	for i, want := range ints {
		if int32(math.Float32bits(got[i])) != want {
			t.Errorf("int32 [%d] = %d, want %d", i, int32(math.Float32bits(got[i])), want)
		}
	}
	if !emuMode { // the emulator's memory is the machine's, allocated lazily
		free0, _, _ := d.MemInfo()
		big, err := d.Alloc(256 << 20) // 1 GiB
		if err != nil {
			t.Fatal(err)
		}
		free1, _, _ := d.MemInfo()
		d.Free(big)
		t.Logf("1 GiB allocation: free memory %d -> %d MiB", free0>>20, free1>>20)
		if free0-free1 < 1<<30 {
			t.Errorf("free memory fell by only %d bytes", free0-free1)
		}
	}
	d.Free(c)
	d.Free(b)
	d.Free(z)
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestStickyErrors uses a device of its own: its errors stay.
func TestStickyErrors(t *testing.T) {
	gpu(t)
	d, err := openTestDevice(gpuOrd)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Close(); err != nil {
			t.Errorf("close after errors: %v", err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
		if _, err := d.Alloc(1); err == nil {
			t.Error("Alloc after Close succeeded")
		}
	}()
	b, err := d.Alloc(10)
	if err != nil {
		t.Fatal(err)
	}
	d.Fill(b, 11, 1) // one value too many: caught before the launch
	err = d.Sync()
	if err == nil {
		t.Fatal("Sync after a bad launch: no error")
	}
	t.Logf("sticky error: %v", err)
	if err2 := d.Download(make([]float32, 10), b); !errors.Is(err2, err) && (err2 == nil || err2.Error() != err.Error()) {
		t.Errorf("Download after the error: %v", err2)
	}
	e := emu.New()
	eb, _ := e.Alloc(10)
	d.Add(b, eb, 10) // a foreign buffer: recorded, not launched
	d.Free(d.View(b, 1, 2))
	if d.Sync() == nil {
		t.Error("errors forgotten")
	}
	e.Close()
}

// TestThreads: goroutines share the device through Begin/end, and lone
// calls (outside Begin) bind it themselves.
func TestThreads(t *testing.T) {
	d := gpu(t)
	const workers, rounds, n = 4, 50, 4096
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := d.Alloc(n) // outside Begin
			if err != nil {
				errs <- err
				return
			}
			defer d.Free(b)
			for i := range rounds {
				end, err := d.Begin()
				if err != nil {
					errs <- err
					return
				}
				d.Fill(b, n, float32(w*1000+i))
				got := make([]float32, n)
				err = d.Download(got, b)
				end()
				if err != nil {
					errs <- err
					return
				}
				if got[n-1] != float32(w*1000+i) {
					errs <- fmt.Errorf("worker %d round %d: %g", w, i, got[n-1])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
