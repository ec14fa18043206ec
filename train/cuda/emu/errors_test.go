//go:build cgo

package emu

import (
	"math"
	"strings"
	"testing"

	"github.com/evoswarm/evoswarm/train/device"
)

// wantSticky checks that the device's first failure mentions want, and that
// Sync and Download report it.
func wantSticky(t *testing.T, d *Device, want string) {
	t.Helper()
	err := d.Sync()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Sync: %v, want an error containing %q", err, want)
	}
	b, aerr := d.Alloc(1)
	if aerr != nil {
		t.Fatal(aerr)
	}
	if derr := d.Download(make([]float32, 1), b); derr != err {
		t.Errorf("Download after a failure: %v, want the sticky %v", derr, err)
	}
}

func TestStickyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		do         func(d *Device, a, b device.Buf)
	}{
		{"size beyond the buffer", "Fill: x: needs 11 values, has 10", func(d *Device, a, b device.Buf) { d.Fill(a, 11, 0) }},
		{"negative size", "Add: dimension -1", func(d *Device, a, b device.Buf) { d.Add(a, b, -1) }},
		{"another device", "another device", func(d *Device, a, b device.Buf) {
			other := New()
			defer other.Close()
			o, _ := other.Alloc(10)
			d.Add(a, o, 10)
		}},
		{"nil buffer", "nil buffer", func(d *Device, a, b device.Buf) { d.Add(a, nil, 1) }},
		{"freed buffer", "freed", func(d *Device, a, b device.Buf) { d.Free(b); d.Fill(b, 1, 0) }},
		{"view of a freed buffer", "freed", func(d *Device, a, b device.Buf) {
			v := d.View(b, 2, 3)
			d.Free(b)
			d.Fill(v, 1, 0)
		}},
		{"double free", "freed", func(d *Device, a, b device.Buf) { d.Free(b); d.Free(b) }},
		{"free of a view", "a view", func(d *Device, a, b device.Buf) { d.Free(d.View(b, 1, 2)) }},
		{"view out of range", "View", func(d *Device, a, b device.Buf) { d.View(a, 4, 7) }},
		{"copy of different lengths", "Copy", func(d *Device, a, b device.Buf) { d.Copy(a, d.View(b, 0, 9)) }},
		{"gemm leading dimension", "lda 2 < 3", func(d *Device, a, b device.Buf) {
			d.Gemm(false, false, 2, 2, 3, 1, a, 2, b, 2, 0, a, 2)
		}},
		{"gemm short matrix", "Gemm: C: needs 11 values", func(d *Device, a, b device.Buf) {
			d.Gemm(false, false, 2, 3, 1, 1, a, 1, b, 3, 0, a, 8)
		}},
		{"conv chunk", "images [2, 2+2) of 3", func(d *Device, a, b device.Buf) {
			d.Im2col(a, b, device.ConvGeom{N: 3, C: 1, H: 1, W: 1, KH: 1, KW: 1, Stride: 1, OH: 1, OW: 1}, 2, 2)
		}},
		{"zero stride", "must be positive", func(d *Device, a, b device.Buf) {
			d.Col2im(a, b, device.ConvGeom{N: 1, C: 1, H: 1, W: 1, KH: 1, KW: 1, OH: 1, OW: 1}, 0, 1)
		}},
		{"softmax buffers", "SoftmaxXent: dLogits: needs 8", func(d *Device, a, b device.Buf) {
			d.SoftmaxXent(a, b, a, d.View(b, 0, 5), 2, 4)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New()
			defer d.Close()
			a, _ := d.Alloc(10)
			b, _ := d.Alloc(10)
			tc.do(d, a, b)
			wantSticky(t, d, tc.want)
			// The first failure stays.
			d.Fill(a, 100, 0)
			if err := d.Sync(); !strings.Contains(err.Error(), tc.want) {
				t.Errorf("after a second failure, Sync: %v", err)
			}
		})
	}
}

func TestTransfers(t *testing.T) {
	d := newDev(t)
	a := mk(t, d, 10)
	if err := d.Upload(a, make([]float32, 11)); err == nil {
		t.Error("Upload of 11 values into 10: no error")
	}
	if err := d.UploadInt32(a, make([]int32, 11)); err == nil {
		t.Error("UploadInt32 of 11 values into 10: no error")
	}
	if err := d.Download(make([]float32, 11), a); err == nil {
		t.Error("Download of 11 values from 10: no error")
	}
	// A failed transfer returns its error and records none.
	if err := d.Sync(); err != nil {
		t.Fatalf("Sync after a failed transfer: %v", err)
	}

	// Upload to and download from views; Copy between overlapping ones.
	if err := d.Upload(d.View(a, 3, 4), []float32{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	d.Copy(d.View(a, 4, 4), d.View(a, 3, 4))
	got := make([]float32, 5)
	if err := d.Download(got, d.View(a, 3, 6)); err != nil {
		t.Fatal(err)
	}
	exact(t, "Copy", got, []float32{1, 1, 2, 3, 4})
	if err := d.UploadInt32(a, []int32{-7, 1 << 30}); err != nil {
		t.Fatal(err)
	}
	// int32 bits travel unchanged.
	if err := d.Download(got[:2], a); err != nil {
		t.Fatal(err)
	}
	if int32(math.Float32bits(got[0])) != -7 || int32(math.Float32bits(got[1])) != 1<<30 {
		t.Errorf("int32 values came back as %v", got[:2])
	}
}

func TestAllocFreeClose(t *testing.T) {
	d := New()
	if d.Name() == "" {
		t.Error("no name")
	}
	end, err := d.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	a, err := d.Alloc(1000)
	if err != nil {
		t.Fatal(err)
	}
	z, err := d.Alloc(0)
	if err != nil || z.Len() != 0 {
		t.Fatalf("Alloc(0): %v, %v", z, err)
	}
	x := make([]float32, 1000)
	x[17] = 1
	if err := d.Download(x, a); err != nil {
		t.Fatal(err)
	}
	for i, v := range x {
		if v != 0 {
			t.Fatalf("Alloc: value %d is %v, not zero", i, v)
		}
	}
	if got := d.Allocated(); got != 4000 {
		t.Errorf("Allocated %d bytes, want 4000", got)
	}
	if _, err := d.Alloc(-1); err == nil {
		t.Error("Alloc(-1): no error")
	}
	free, total, err := d.MemInfo()
	if err != nil {
		t.Logf("MemInfo: %v", err)
	} else if total <= 0 || free < 0 || free > total {
		t.Errorf("MemInfo: free %d, total %d", free, total)
	}
	d.Free(a)
	if got := d.Allocated(); got != 0 {
		t.Errorf("Allocated %d bytes after Free, want 0", got)
	}
	b, _ := d.Alloc(10)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got := d.Allocated(); got != 0 {
		t.Errorf("Allocated %d bytes after Close, want 0", got)
	}
	if err := d.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	d.Fill(b, 1, 0) // a buffer of a closed device
	if err := d.Sync(); err == nil || !strings.Contains(err.Error(), "freed") {
		t.Errorf("use after Close: %v", err)
	}
	if _, err := d.Alloc(1); err == nil {
		t.Error("Alloc after Close: no error")
	}
}
