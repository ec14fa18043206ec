//go:build gpu

package cuda

// What the device does on buffers: transfers, Gemm through cuBLAS and the
// kernel launches, each checked before it reaches the driver.

import (
	"fmt"
	"unsafe"

	"github.com/evoswarm/evoswarm/train/device"
	"gonum.org/v1/gonum/blas"
	"gorgonia.org/cu"
)

// Upload copies src into the first len(src) values of dst.
func (d *Device) Upload(dst device.Buf, src []float32) error {
	return d.upload("Upload", dst, unsafe.Pointer(unsafe.SliceData(src)), len(src))
}

// UploadInt32 copies src into the first len(src) values of dst.
func (d *Device) UploadInt32(dst device.Buf, src []int32) error {
	return d.upload("UploadInt32", dst, unsafe.Pointer(unsafe.SliceData(src)), len(src))
}

func (d *Device) upload(op string, dst device.Buf, src unsafe.Pointer, n int) error {
	bb, err := d.mem.Transfer(op, dst, n)
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return err
	}
	if err := cu.MemcpyHtoD(ptr(bb), src, 4*int64(n)); err != nil {
		err = fmt.Errorf("cuda: %s: %w", op, err)
		d.fail(err)
		return err
	}
	return nil
}

// Download copies the first len(dst) values of src into dst, after every
// launch before it. It returns the sticky error, if any.
func (d *Device) Download(dst []float32, src device.Buf) error {
	bb, err := d.own(src)
	if err == nil && len(dst) > bb.Len() {
		err = fmt.Errorf("%d values from a buffer of %d", len(dst), bb.Len())
	}
	if err != nil {
		return fmt.Errorf("cuda: Download: %w", err)
	}
	if err := d.sticky(); err != nil {
		return err
	}
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return err
	}
	if len(dst) == 0 {
		return d.sync("Download")
	}
	// cuMemcpyDtoH waits for the default stream's work before copying.
	if err := cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), ptr(bb), 4*int64(len(dst))); err != nil {
		err = fmt.Errorf("cuda: Download: %w", err)
		d.fail(err)
		return err
	}
	return nil
}

// Copy copies src into dst (same length; they may overlap).
func (d *Device) Copy(dst, src device.Buf) {
	bd, err := d.own(dst)
	var bs *buf
	if err == nil {
		bs, err = d.own(src)
	}
	if err == nil && bd.Len() != bs.Len() {
		err = fmt.Errorf("dst has %d values, src %d", bd.Len(), bs.Len())
	}
	if err != nil {
		d.fail(fmt.Errorf("cuda: Copy: %w", err))
		return
	}
	if bd.Len() == 0 || d.sticky() != nil {
		return
	}
	leave, err := d.enter()
	defer leave()
	if err != nil {
		d.fail(err)
		return
	}
	bytes := 4 * int64(bd.Len())
	if bd.Alloc() == bs.Alloc() && bd.Off() < bs.Off()+bs.Len() && bs.Off() < bd.Off()+bd.Len() {
		if bd.Off() == bs.Off() {
			return
		}
		// Overlapping ranges: through a temporary buffer.
		tmp, err := cu.MemAlloc(bytes)
		if err != nil {
			d.fail(fmt.Errorf("cuda: Copy: %w", err))
			return
		}
		err = cu.MemcpyDtoD(tmp, ptr(bs), bytes)
		if err == nil {
			err = cu.MemcpyDtoD(ptr(bd), tmp, bytes)
		}
		if err == nil {
			err = cu.Synchronize()
		}
		cu.MemFree(tmp)
		if err != nil {
			d.fail(fmt.Errorf("cuda: Copy: %w", err))
		}
		return
	}
	if err := cu.MemcpyDtoD(ptr(bd), ptr(bs), bytes); err != nil {
		d.fail(fmt.Errorf("cuda: Copy: %w", err))
	}
}

// devSlice is a []float32 over n values of device memory at p, for
// cu/blas, which passes &s[0] to cuBLAS. Only its address and length are
// used; nothing in Go reads it. (The detour through *unsafe.Pointer turns
// the integer address into a pointer without a uintptr conversion.)
func devSlice(p cu.DevicePtr, n int64) []float32 {
	up := *(*unsafe.Pointer)(unsafe.Pointer(&p))
	return unsafe.Slice((*float32)(up), n)
}

// stored is the number of values a rows x cols row-major matrix with
// leading dimension ld spans.
func stored(rows, cols, ld int) int64 {
	if rows == 0 || cols == 0 {
		return 0
	}
	return mul(int64(rows-1), int64(ld)) + int64(cols)
}

// Gemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices.
// cuBLAS is column-major, and a row-major matrix with leading dimension ld
// is its transpose in column-major order with the same ld, so it computes
// C^T = op(B)^T op(A)^T: B and A swapped, m and n swapped.
func (d *Device) Gemm(transA, transB bool, m, n, k int, alpha float32, a device.Buf, lda int, b device.Buf, ldb int, beta float32, c device.Buf, ldc int) {
	fail := func(format string, args ...any) {
		d.fail(fmt.Errorf("cuda: Gemm(%v, %v, m=%d, n=%d, k=%d, lda=%d, ldb=%d, ldc=%d): %s",
			transA, transB, m, n, k, lda, ldb, ldc, fmt.Sprintf(format, args...)))
	}
	if m < 0 || n < 0 || k < 0 || max(m, n, k, lda, ldb, ldc) > MaxItems {
		fail("bad dimensions")
		return
	}
	ar, ac, tA := m, k, blas.NoTrans
	if transA {
		ar, ac, tA = k, m, blas.Trans
	}
	br, bc, tB := k, n, blas.NoTrans
	if transB {
		br, bc, tB = n, k, blas.Trans
	}
	if lda < max(1, ac) || ldb < max(1, bc) || ldc < max(1, n) {
		fail("leading dimension too small")
		return
	}
	ba, err := d.own(a)
	if err != nil {
		fail("A: %v", err)
		return
	}
	bb, err := d.own(b)
	if err != nil {
		fail("B: %v", err)
		return
	}
	bc2, err := d.own(c)
	if err != nil {
		fail("C: %v", err)
		return
	}
	if m == 0 || n == 0 {
		return
	}
	na, nb, nc := stored(ar, ac, lda), stored(br, bc, ldb), stored(m, n, ldc)
	if k == 0 {
		na, nb = 0, 0
	}
	if int64(ba.Len()) < na || int64(bb.Len()) < nb || int64(bc2.Len()) < nc {
		fail("buffers of %d, %d, %d values; the matrices span %d, %d, %d", ba.Len(), bb.Len(), bc2.Len(), na, nb, nc)
		return
	}
	if d.sticky() != nil {
		return
	}
	leave, err := d.enter()
	defer leave()
	if err != nil {
		d.fail(err)
		return
	}
	pc := ptr(bc2)
	pa, pb := ptr(ba), ptr(bb)
	if k == 0 { // cuBLAS reads neither A nor B; they may be empty.
		pa, pb, na, nb = pc, pc, nc, nc
	}
	d.blas.Sgemm(tB, tA, n, m, k, alpha,
		devSlice(pb, max(nb, 1)), ldb, devSlice(pa, max(na, 1)), lda,
		beta, devSlice(pc, nc), ldc)
	if err := d.blas.Err(); err != nil {
		fail("cuBLAS: %v", err)
		return
	}
	if d.syncAll {
		if err := cu.Synchronize(); err != nil {
			fail("%v", err)
		}
	}
}

// launch checks and launches kernel id on the default stream.
func (d *Device) launch(id KernelID, args ...Arg) {
	k := &Kernels[id]
	if d.sticky() != nil {
		return
	}
	items, err := k.Prepare(args, d.slots[:len(args)])
	if err != nil {
		d.fail(fmt.Errorf("cuda: %w", err))
		return
	}
	if items == 0 {
		return
	}
	grid, block := LaunchConfig(items, d.maxGrid)
	leave, err := d.enter()
	defer leave()
	if err != nil {
		d.fail(err)
		return
	}
	if err := d.fns[id].Launch(grid, 1, 1, block, 1, 1, 0, cu.Stream{}, d.params[:len(args)]); err != nil {
		d.fail(fmt.Errorf("cuda: launch %s (grid %d, block %d): %w", k.Name, grid, block, err))
		return
	}
	if d.syncAll {
		if err := cu.Synchronize(); err != nil {
			d.fail(fmt.Errorf("cuda: %s (grid %d, block %d): %w", k.Name, grid, block, err))
		}
	}
}

// arg is a kernel argument for buffer b, or a recorded error.
func (d *Device) arg(op, name string, b device.Buf) Arg {
	bb, err := d.own(b)
	if err != nil {
		d.fail(fmt.Errorf("cuda: %s: %s: %w", op, name, err))
		return PtrArg(0, 0)
	}
	return PtrArg(uint64(ptr(bb)), bb.Len())
}

func (d *Device) Fill(x device.Buf, n int, v float32) {
	d.launch(KFill, d.arg("Fill", "x", x), IntArg(n), FloatArg(v))
}

func (d *Device) Add(y, x device.Buf, n int) {
	d.launch(KAdd, d.arg("Add", "y", y), d.arg("Add", "x", x), IntArg(n))
}

func (d *Device) ToCNHW(x, y device.Buf, n, c, hw int) {
	d.launch(KToCNHW, d.arg("ToCNHW", "x", x), d.arg("ToCNHW", "y", y), IntArg(n), IntArg(c), IntArg(hw))
}

func convArgs(g device.ConvGeom, n0, nb int) []Arg {
	return []Arg{IntArg(g.N), IntArg(g.C), IntArg(g.H), IntArg(g.W), IntArg(g.KH), IntArg(g.KW),
		IntArg(g.Stride), IntArg(g.PadH), IntArg(g.PadW), IntArg(g.OH), IntArg(g.OW), IntArg(n0), IntArg(nb)}
}

func (d *Device) Im2col(x, cols device.Buf, g device.ConvGeom, n0, nb int) {
	args := append([]Arg{d.arg("Im2col", "x", x), d.arg("Im2col", "cols", cols)}, convArgs(g, n0, nb)...)
	d.launch(KIm2col, args...)
}

func (d *Device) Col2im(cols, dx device.Buf, g device.ConvGeom, n0, nb int) {
	args := append([]Arg{d.arg("Col2im", "cols", cols), d.arg("Col2im", "dx", dx)}, convArgs(g, n0, nb)...)
	d.launch(KCol2im, args...)
}

func (d *Device) BNCenterSq(x, sum, t device.Buf, c, p int) {
	const op = "BNCenterSq"
	d.launch(KBNCenterSq, d.arg(op, "x", x), d.arg(op, "sum", sum), d.arg(op, "t", t), IntArg(c), IntArg(p))
}

func (d *Device) BNFinalize(sum, sq, mean, invStd, runMean, runVar device.Buf, c, p int, momentum, eps float32) {
	const op = "BNFinalize"
	d.launch(KBNFinalize, d.arg(op, "sum", sum), d.arg(op, "sq", sq), d.arg(op, "mean", mean),
		d.arg(op, "invStd", invStd), d.arg(op, "runMean", runMean), d.arg(op, "runVar", runVar),
		IntArg(c), IntArg(p), FloatArg(momentum), FloatArg(eps))
}

func (d *Device) BNInferStats(runVar, invStd device.Buf, c int, eps float32) {
	const op = "BNInferStats"
	d.launch(KBNInferStats, d.arg(op, "runVar", runVar), d.arg(op, "invStd", invStd), IntArg(c), FloatArg(eps))
}

func (d *Device) BNReLU(x, mean, invStd, scale, offset, y device.Buf, c, p int) {
	const op = "BNReLU"
	d.launch(KBNReLU, d.arg(op, "x", x), d.arg(op, "mean", mean), d.arg(op, "invStd", invStd),
		d.arg(op, "scale", scale), d.arg(op, "offset", offset), d.arg(op, "y", y), IntArg(c), IntArg(p))
}

func (d *Device) BNBackwardPrep(dy, y, x, mean, invStd, g1, g2 device.Buf, c, p int) {
	const op = "BNBackwardPrep"
	d.launch(KBNBackwardPrep, d.arg(op, "dy", dy), d.arg(op, "y", y), d.arg(op, "x", x),
		d.arg(op, "mean", mean), d.arg(op, "invStd", invStd), d.arg(op, "g1", g1), d.arg(op, "g2", g2),
		IntArg(c), IntArg(p))
}

func (d *Device) BNBackwardData(g1, x, mean, invStd, scale, dScale, dOffset, dx device.Buf, c, p int) {
	const op = "BNBackwardData"
	d.launch(KBNBackwardData, d.arg(op, "g1", g1), d.arg(op, "x", x), d.arg(op, "mean", mean),
		d.arg(op, "invStd", invStd), d.arg(op, "scale", scale), d.arg(op, "dScale", dScale),
		d.arg(op, "dOffset", dOffset), d.arg(op, "dx", dx), IntArg(c), IntArg(p))
}

func (d *Device) Reconcile(x, y device.Buf, n, c1, h1, w1, c, h, w int) {
	d.launch(KReconcile, d.arg("Reconcile", "x", x), d.arg("Reconcile", "y", y),
		IntArg(n), IntArg(c1), IntArg(h1), IntArg(w1), IntArg(c), IntArg(h), IntArg(w))
}

func (d *Device) ReconcileBackward(dy, dx device.Buf, n, c1, h1, w1, c, h, w int) {
	d.launch(KReconcileBackward, d.arg("ReconcileBackward", "dy", dy), d.arg("ReconcileBackward", "dx", dx),
		IntArg(n), IntArg(c1), IntArg(h1), IntArg(w1), IntArg(c), IntArg(h), IntArg(w))
}

func (d *Device) GAPBackward(dg, dx device.Buf, rows, hw int) {
	d.launch(KGAPBackward, d.arg("GAPBackward", "dg", dg), d.arg("GAPBackward", "dx", dx), IntArg(rows), IntArg(hw))
}

func (d *Device) AddBias(y, b device.Buf, rows, n int) {
	d.launch(KAddBias, d.arg("AddBias", "y", y), d.arg("AddBias", "b", b), IntArg(rows), IntArg(n))
}

func (d *Device) SoftmaxXent(logits, labels, loss, dLogits device.Buf, k, n int) {
	const op = "SoftmaxXent"
	d.launch(KSoftmaxXent, d.arg(op, "logits", logits), d.arg(op, "labels", labels), d.arg(op, "loss", loss),
		d.arg(op, "dLogits", dLogits), IntArg(k), IntArg(n))
}

// ChannelSum runs ev_chan_partial then ev_chan_finish, with part as
// float64 scratch (which must start at an even offset, for alignment).
func (d *Device) ChannelSum(x, part, out device.Buf, c, p int, alpha float32) {
	const op = "ChannelSum"
	if bp, err := d.own(part); err == nil && bp.Off()%2 != 0 {
		d.fail(fmt.Errorf("cuda: %s: part starts at an odd offset (%d): float64 scratch needs 8-byte alignment", op, bp.Off()))
		return
	}
	k := device.SumParts(p)
	pa := d.arg(op, "part", part)
	d.launch(KChanPartial, d.arg(op, "x", x), pa, IntArg(c), IntArg(p), IntArg(k))
	d.launch(KChanFinish, pa, d.arg(op, "out", out), IntArg(c), IntArg(k), FloatArg(alpha))
}

func (d *Device) SGD(w, v, g device.Buf, n int, lr, momentum, decay float32) {
	d.launch(KSGD, d.arg("SGD", "w", w), d.arg("SGD", "v", v), d.arg("SGD", "g", g), IntArg(n),
		FloatArg(lr), FloatArg(momentum), FloatArg(decay))
}
