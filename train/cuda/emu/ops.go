//go:build cgo

package emu

// What the device does on buffers: transfers, Gemm through gonum and the
// kernels of kernels.cu, each checked before it runs.

/*
#include <string.h>
#include "emu.h"
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/evoswarm/evoswarm/train/device"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
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
	if n > 0 {
		C.memcpy(addr(bb), src, C.size_t(4*n))
	}
	return nil
}

// Download copies the first len(dst) values of src into dst. It returns
// the sticky error, if any, and then copies nothing.
func (d *Device) Download(dst []float32, src device.Buf) error {
	bb, err := d.mem.Transfer("Download", src, len(dst))
	if err != nil {
		return err
	}
	if len(dst) > 0 {
		C.memcpy(unsafe.Pointer(unsafe.SliceData(dst)), addr(bb), C.size_t(4*len(dst)))
	}
	return nil
}

// Copy copies src into dst, which must have the same length; they may
// overlap.
func (d *Device) Copy(dst, src device.Buf) {
	c := d.call("Copy")
	n := 0
	if bs, ok := src.(*buf); ok && bs != nil {
		n = bs.Len()
	}
	if bd, ok := dst.(*buf); ok && bd != nil && bd.Len() != n {
		c.errorf("dst has %d values, src %d", bd.Len(), n)
	}
	pd := c.buf("dst", dst, int64(n))
	ps := c.buf("src", src, int64(n))
	if !c.ok() || n == 0 {
		return
	}
	C.memmove(unsafe.Pointer(pd), unsafe.Pointer(ps), C.size_t(4*n))
}

// call collects the argument errors of one launch.
type call struct {
	d   *Device
	op  string
	err error
}

func (d *Device) call(op string) *call { return &call{d: d, op: op} }

func (c *call) errorf(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("emu: "+c.op+": "+format, args...)
	}
}

// dims checks that every value is a non-negative C int.
func (c *call) dims(vals ...int) {
	for _, v := range vals {
		if v < 0 || v > math.MaxInt32 {
			c.errorf("dimension %d out of range", v)
		}
	}
}

// pos checks that every value is a positive C int.
func (c *call) pos(vals ...int) {
	for _, v := range vals {
		if v < 1 || v > math.MaxInt32 {
			c.errorf("dimension %d must be positive", v)
		}
	}
}

// buf checks that b is a live buffer of the device with at least n values
// and returns its address as a float*.
func (c *call) buf(name string, b device.Buf, n int64) *C.float {
	bb, err := c.d.mem.Own(b)
	if err == nil && (n < 0 || n > int64(bb.Len())) {
		err = fmt.Errorf("needs %d values, has %d", n, bb.Len())
	}
	if err != nil {
		c.errorf("%s: %w", name, err)
		return nil
	}
	return (*C.float)(addr(bb))
}

// ok records the call's error, if any, as the device's sticky error, and
// reports whether the launch may go ahead.
func (c *call) ok() bool {
	if c.err != nil {
		c.d.fail(c.err)
		return false
	}
	return true
}

// mul multiplies non-negative sizes, saturating instead of overflowing.
func mul(vals ...int) int64 {
	p := int64(1)
	for _, v := range vals {
		if v < 0 {
			return -1
		}
		if v != 0 && p > math.MaxInt64/int64(v) {
			return math.MaxInt64
		}
		p *= int64(v)
	}
	return p
}

// slice is the first n values of a buffer, as a Go slice over C memory.
func slice(p *C.float, n int64) []float32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(p)), n)
}

// stored is the number of values a rows x cols row-major matrix with
// leading dimension ld spans.
func stored(rows, cols, ld int) int64 {
	if rows == 0 || cols == 0 {
		return 0
	}
	return mul(rows-1, ld) + int64(cols)
}

// Gemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices with
// gonum's Sgemm.
func (d *Device) Gemm(transA, transB bool, m, n, k int, alpha float32, a device.Buf, lda int, b device.Buf, ldb int, beta float32, c device.Buf, ldc int) {
	cl := d.call("Gemm")
	cl.dims(m, n, k, lda, ldb, ldc)
	ar, ac, tA := m, k, blas.NoTrans
	if transA {
		ar, ac, tA = k, m, blas.Trans
	}
	br, bc, tB := k, n, blas.NoTrans
	if transB {
		br, bc, tB = n, k, blas.Trans
	}
	if lda < max(1, ac) {
		cl.errorf("lda %d < %d", lda, max(1, ac))
	}
	if ldb < max(1, bc) {
		cl.errorf("ldb %d < %d", ldb, max(1, bc))
	}
	if ldc < max(1, n) {
		cl.errorf("ldc %d < %d", ldc, max(1, n))
	}
	var na, nb, nc int64
	if m > 0 && n > 0 {
		na, nb, nc = stored(ar, ac, lda), stored(br, bc, ldb), stored(m, n, ldc)
	}
	pa := cl.buf("A", a, na)
	pb := cl.buf("B", b, nb)
	pc := cl.buf("C", c, nc)
	if !cl.ok() || m == 0 || n == 0 {
		return
	}
	if k == 0 { // C = beta*C; gonum would want A and B to span m-1 and k-1 rows
		cs := slice(pc, nc)
		for i := range m {
			row := cs[i*ldc:][:n]
			for j := range row {
				if beta == 0 {
					row[j] = 0
				} else {
					row[j] *= beta
				}
			}
		}
		return
	}
	defer func() {
		if r := recover(); r != nil {
			d.fail(fmt.Errorf("emu: Gemm: %v", r))
		}
	}()
	gonum.Implementation{}.Sgemm(tA, tB, m, n, k, alpha, slice(pa, na), lda, slice(pb, nb), ldb, beta, slice(pc, nc), ldc)
}

// The kernels. Each checks its arguments (recording a failure and skipping
// the launch), then calls its kernel of kernels.cu, which runs all its work
// items.

// Fill runs ev_fill (see device.Kernels).
func (d *Device) Fill(x device.Buf, n int, v float32) {
	c := d.call("Fill")
	c.dims(n)
	px := c.buf("x", x, int64(n))
	if c.ok() {
		C.ev_fill(px, C.int(n), C.float(v))
	}
}

// Add runs ev_add (see device.Kernels).
func (d *Device) Add(y, x device.Buf, n int) {
	c := d.call("Add")
	c.dims(n)
	py := c.buf("y", y, int64(n))
	px := c.buf("x", x, int64(n))
	if c.ok() {
		C.ev_add(py, px, C.int(n))
	}
}

// ToCNHW runs ev_to_cnhw (see device.Kernels).
func (d *Device) ToCNHW(x, y device.Buf, n, ch, hw int) {
	c := d.call("ToCNHW")
	c.dims(n, ch, hw)
	sz := mul(n, ch, hw)
	px := c.buf("x", x, sz)
	py := c.buf("y", y, sz)
	if c.ok() {
		C.ev_to_cnhw(px, py, C.int(n), C.int(ch), C.int(hw))
	}
}

// conv checks a geometry and a chunk of it and returns the sizes of the
// images and of the column matrix.
func (c *call) conv(g device.ConvGeom, n0, nb int) (images, cols int64) {
	c.dims(g.N, g.C, g.H, g.W, g.OH, g.OW, g.PadH, g.PadW, n0, nb)
	c.pos(g.KH, g.KW, g.Stride)
	if n0 > g.N || nb > g.N-n0 {
		c.errorf("images [%d, %d+%d) of %d", n0, n0, nb, g.N)
	}
	return mul(g.C, g.N, g.H, g.W), mul(g.C, g.KH, g.KW, nb, g.OH, g.OW)
}

// Im2col runs ev_im2col (see device.Kernels).
func (d *Device) Im2col(x, cols device.Buf, g device.ConvGeom, n0, nb int) {
	c := d.call("Im2col")
	ni, nc := c.conv(g, n0, nb)
	px := c.buf("x", x, ni)
	pc := c.buf("cols", cols, nc)
	if c.ok() {
		C.ev_im2col(px, pc, C.int(g.N), C.int(g.C), C.int(g.H), C.int(g.W), C.int(g.KH), C.int(g.KW),
			C.int(g.Stride), C.int(g.PadH), C.int(g.PadW), C.int(g.OH), C.int(g.OW), C.int(n0), C.int(nb))
	}
}

// Col2im runs ev_col2im (see device.Kernels).
func (d *Device) Col2im(cols, dx device.Buf, g device.ConvGeom, n0, nb int) {
	c := d.call("Col2im")
	ni, nc := c.conv(g, n0, nb)
	pc := c.buf("cols", cols, nc)
	px := c.buf("dx", dx, ni)
	if c.ok() {
		C.ev_col2im(pc, px, C.int(g.N), C.int(g.C), C.int(g.H), C.int(g.W), C.int(g.KH), C.int(g.KW),
			C.int(g.Stride), C.int(g.PadH), C.int(g.PadW), C.int(g.OH), C.int(g.OW), C.int(n0), C.int(nb))
	}
}

// BNCenterSq runs ev_bn_center_sq (see device.Kernels).
func (d *Device) BNCenterSq(x, sum, t device.Buf, ch, p int) {
	c := d.call("BNCenterSq")
	c.dims(ch)
	c.pos(p)
	px := c.buf("x", x, mul(ch, p))
	ps := c.buf("sum", sum, int64(ch))
	pt := c.buf("t", t, mul(ch, p))
	if c.ok() {
		C.ev_bn_center_sq(px, ps, pt, C.int(ch), C.int(p))
	}
}

// BNFinalize runs ev_bn_finalize (see device.Kernels).
func (d *Device) BNFinalize(sum, sq, mean, invStd, runMean, runVar device.Buf, ch, p int, momentum, eps float32) {
	c := d.call("BNFinalize")
	c.dims(ch)
	c.pos(p)
	n := int64(ch)
	ps, pq := c.buf("sum", sum, n), c.buf("sq", sq, n)
	pm, pi := c.buf("mean", mean, n), c.buf("invStd", invStd, n)
	prm, prv := c.buf("runMean", runMean, n), c.buf("runVar", runVar, n)
	if c.ok() {
		C.ev_bn_finalize(ps, pq, pm, pi, prm, prv, C.int(ch), C.int(p), C.float(momentum), C.float(eps))
	}
}

// BNInferStats runs ev_bn_infer_stats (see device.Kernels).
func (d *Device) BNInferStats(runVar, invStd device.Buf, ch int, eps float32) {
	c := d.call("BNInferStats")
	c.dims(ch)
	prv := c.buf("runVar", runVar, int64(ch))
	pi := c.buf("invStd", invStd, int64(ch))
	if c.ok() {
		C.ev_bn_infer_stats(prv, pi, C.int(ch), C.float(eps))
	}
}

// BNReLU runs ev_bn_relu (see device.Kernels).
func (d *Device) BNReLU(x, mean, invStd, scale, offset, y device.Buf, ch, p int) {
	c := d.call("BNReLU")
	c.dims(ch, p)
	n, cp := int64(ch), mul(ch, p)
	px := c.buf("x", x, cp)
	pm, pi := c.buf("mean", mean, n), c.buf("invStd", invStd, n)
	psc, po := c.buf("scale", scale, n), c.buf("offset", offset, n)
	py := c.buf("y", y, cp)
	if c.ok() {
		C.ev_bn_relu(px, pm, pi, psc, po, py, C.int(ch), C.int(p))
	}
}

// BNBackwardPrep runs ev_bn_backward_prep (see device.Kernels).
func (d *Device) BNBackwardPrep(dy, y, x, mean, invStd, g1, g2 device.Buf, ch, p int) {
	c := d.call("BNBackwardPrep")
	c.dims(ch, p)
	n, cp := int64(ch), mul(ch, p)
	pdy, py, px := c.buf("dy", dy, cp), c.buf("y", y, cp), c.buf("x", x, cp)
	pm, pi := c.buf("mean", mean, n), c.buf("invStd", invStd, n)
	pg1, pg2 := c.buf("g1", g1, cp), c.buf("g2", g2, cp)
	if c.ok() {
		C.ev_bn_backward_prep(pdy, py, px, pm, pi, pg1, pg2, C.int(ch), C.int(p))
	}
}

// BNBackwardData runs ev_bn_backward_data (see device.Kernels).
func (d *Device) BNBackwardData(g1, x, mean, invStd, scale, dScale, dOffset, dx device.Buf, ch, p int) {
	c := d.call("BNBackwardData")
	c.dims(ch, p)
	n, cp := int64(ch), mul(ch, p)
	pg1, px := c.buf("g1", g1, cp), c.buf("x", x, cp)
	pm, pi, psc := c.buf("mean", mean, n), c.buf("invStd", invStd, n), c.buf("scale", scale, n)
	pds, pdo := c.buf("dScale", dScale, n), c.buf("dOffset", dOffset, n)
	pdx := c.buf("dx", dx, cp)
	if c.ok() {
		C.ev_bn_backward_data(pg1, px, pm, pi, psc, pds, pdo, pdx, C.int(ch), C.int(p))
	}
}

// Reconcile runs ev_reconcile (see device.Kernels).
func (d *Device) Reconcile(x, y device.Buf, n, c1, h1, w1, ch, h, w int) {
	c := d.call("Reconcile")
	c.dims(n, c1, ch)
	c.pos(h1, w1, h, w)
	px := c.buf("x", x, mul(c1, n, h1, w1))
	py := c.buf("y", y, mul(ch, n, h, w))
	if c.ok() {
		C.ev_reconcile(px, py, C.int(n), C.int(c1), C.int(h1), C.int(w1), C.int(ch), C.int(h), C.int(w))
	}
}

// ReconcileBackward runs ev_reconcile_backward (see device.Kernels).
func (d *Device) ReconcileBackward(dy, dx device.Buf, n, c1, h1, w1, ch, h, w int) {
	c := d.call("ReconcileBackward")
	c.dims(n, c1, ch)
	c.pos(h1, w1, h, w)
	pdy := c.buf("dy", dy, mul(ch, n, h, w))
	pdx := c.buf("dx", dx, mul(c1, n, h1, w1))
	if c.ok() {
		C.ev_reconcile_backward(pdy, pdx, C.int(n), C.int(c1), C.int(h1), C.int(w1), C.int(ch), C.int(h), C.int(w))
	}
}

// GAPBackward runs ev_gap_backward (see device.Kernels).
func (d *Device) GAPBackward(dg, dx device.Buf, rows, hw int) {
	c := d.call("GAPBackward")
	c.dims(rows)
	c.pos(hw)
	pg := c.buf("dg", dg, int64(rows))
	px := c.buf("dx", dx, mul(rows, hw))
	if c.ok() {
		C.ev_gap_backward(pg, px, C.int(rows), C.int(hw))
	}
}

// AddBias runs ev_add_bias (see device.Kernels).
func (d *Device) AddBias(y, b device.Buf, rows, n int) {
	c := d.call("AddBias")
	c.dims(rows, n)
	py := c.buf("y", y, mul(rows, n))
	pb := c.buf("b", b, int64(rows))
	if c.ok() {
		C.ev_add_bias(py, pb, C.int(rows), C.int(n))
	}
}

// SoftmaxXent runs ev_softmax_xent (see device.Kernels).
func (d *Device) SoftmaxXent(logits, labels, loss, dLogits device.Buf, k, n int) {
	c := d.call("SoftmaxXent")
	c.dims(n)
	c.pos(k)
	pl := c.buf("logits", logits, mul(k, n))
	pla := c.buf("labels", labels, int64(n))
	plo := c.buf("loss", loss, int64(n))
	pd := c.buf("dLogits", dLogits, mul(k, n))
	if c.ok() {
		C.ev_softmax_xent(pl, (*C.int)(unsafe.Pointer(pla)), plo, pd, C.int(k), C.int(n))
	}
}

// SGD runs ev_sgd (see device.Kernels).
func (d *Device) SGD(w, v, g device.Buf, n int, lr, momentum, decay float32) {
	c := d.call("SGD")
	c.dims(n)
	pw, pv, pg := c.buf("w", w, int64(n)), c.buf("v", v, int64(n)), c.buf("g", g, int64(n))
	if c.ok() {
		C.ev_sgd(pw, pv, pg, C.int(n), C.float(lr), C.float(momentum), C.float(decay))
	}
}

// ChannelSum runs ev_chan_partial then ev_chan_finish (see device.Kernels).
func (d *Device) ChannelSum(x, part, out device.Buf, c, p int, alpha float32) {
	cl := d.call("ChannelSum")
	cl.dims(c, p)
	k := device.SumParts(p)
	px := cl.buf("x", x, int64(c)*int64(p))
	pp := cl.buf("part", part, int64(device.PartFloats(c, p)))
	po := cl.buf("out", out, int64(c))
	if cl.ok() {
		parts := (*C.double)(unsafe.Pointer(pp))
		C.ev_chan_partial(px, parts, C.int(c), C.int(p), C.int(k))
		C.ev_chan_finish(parts, po, C.int(c), C.int(k), C.float(alpha))
	}
}
