//go:build cgo

package emu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/evoswarm/evoswarm/train/device"
)

// newDev returns a device for one test, bound with Begin; at the end of the
// test it must hold no sticky error.
func newDev(t *testing.T) *Device {
	t.Helper()
	d := New()
	end, err := d.Begin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Sync(); err != nil {
			t.Errorf("sticky error at the end of the test: %v", err)
		}
		end()
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// uniform returns n values in [lo, hi).
func uniform(r *rand.Rand, n int, lo, hi float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = lo + (hi-lo)*r.Float32()
	}
	return s
}

func mk(t *testing.T, d *Device, n int) device.Buf {
	t.Helper()
	b, err := d.Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func up(t *testing.T, d *Device, x []float32) device.Buf {
	t.Helper()
	b := mk(t, d, len(x))
	if err := d.Upload(b, x); err != nil {
		t.Fatal(err)
	}
	return b
}

func upInt32(t *testing.T, d *Device, x []int32) device.Buf {
	t.Helper()
	b := mk(t, d, len(x))
	if err := d.UploadInt32(b, x); err != nil {
		t.Fatal(err)
	}
	return b
}

func down(t *testing.T, d *Device, b device.Buf) []float32 {
	t.Helper()
	x := make([]float32, b.Len())
	if err := d.Download(x, b); err != nil {
		t.Fatal(err)
	}
	return x
}

// toCNHW and toNCHW convert between the CPU kernels' layout and the
// device's, for n images of c channels of hw values.
func toCNHW(x []float32, n, c, hw int) []float32 {
	y := make([]float32, len(x))
	for b := range n {
		for ch := range c {
			copy(y[(ch*n+b)*hw:][:hw], x[(b*c+ch)*hw:][:hw])
		}
	}
	return y
}

func toNCHW(x []float32, n, c, hw int) []float32 {
	y := make([]float32, len(x))
	for b := range n {
		for ch := range c {
			copy(y[(b*c+ch)*hw:][:hw], x[(ch*n+b)*hw:][:hw])
		}
	}
	return y
}

func plus(a, b []float32) []float32 {
	s := make([]float32, len(a))
	for i := range a {
		s[i] = a[i] + b[i]
	}
	return s
}

// near fails the test unless every got[i] is within
// rtol*(|want[i]| + mean|want|) of want[i]: relative, with the array's
// typical magnitude as the floor for values near zero.
func near(t *testing.T, what string, got, want []float32, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale float64
	for _, w := range want {
		scale += math.Abs(float64(w))
	}
	scale /= float64(max(1, len(want)))
	bad := 0
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		tol := rtol*(math.Abs(w)+scale) + 1e-30
		e := math.Abs(g - w)
		if math.IsNaN(g) != math.IsNaN(w) || e > tol {
			if bad < 5 {
				t.Errorf("%s[%d] = %.8g, want %.8g (error %.3g, tolerance %.3g)", what, i, g, w, e, tol)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values wrong", what, bad, len(got))
	}
}

// exact fails the test unless got and want are bit for bit equal.
func exact(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad < 5 {
				t.Errorf("%s[%d] = %v, want %v", what, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(got))
	}
}

func name(format string, args ...any) string { return fmt.Sprintf(format, args...) }
