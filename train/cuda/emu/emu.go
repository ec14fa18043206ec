//go:build cgo

// Package emu is a device.Device on the CPU that runs the CUDA C kernels of
// train/cuda/kernels.cu, compiled as plain C (emu_kernels.c), with gonum's
// Sgemm for Gemm. It exists to test the GPU backend's arithmetic, and the
// engine built on device.Device, on a machine without a GPU: every kernel's
// grid-stride loop runs as an ordinary loop over its work items.
//
// Memory is C memory (calloc), so buffers behave like device memory: the
// Go garbage collector never sees them, views share it, and everything is
// released by Free or Close. Errors follow the interface's sticky rule: a
// bad argument to a method that returns no error (a buffer of another
// device or one already freed, a size larger than a buffer, a negative or
// too large dimension) is recorded, the launch is skipped, and the first
// such error is returned by Sync and by every later Download (and Upload).
package emu

//go:generate go test -run ^TestKernelsSource$ -update .

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -lm
#include <stdlib.h>
#include <string.h>
#include "emu.h"
*/
import "C"

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/evoswarm/evoswarm/train/cuda/internal/devmem"
	"github.com/evoswarm/evoswarm/train/device"
)

// Device is the CPU emulation of a CUDA device. Create one with New.
type Device struct {
	// mem holds the allocations (calloc'd blocks), the buffers over them
	// and the sticky error.
	mem *devmem.Memory[unsafe.Pointer]
}

// buf is a device.Buf of this package: n values of an allocation from off.
type buf = devmem.Buf[unsafe.Pointer]

var _ device.Device = (*Device)(nil)

// New returns an emulated device.
func New() *Device {
	return &Device{mem: devmem.New[unsafe.Pointer]("emu")}
}

// Name describes the device.
func (d *Device) Name() string { return "emu (CUDA C kernels on the CPU)" }

// Begin does nothing on the CPU; it returns a no-op end function.
func (d *Device) Begin() (end func(), err error) { return func() {}, nil }

// fail records err as the sticky error unless one is already recorded.
func (d *Device) fail(err error) { d.mem.Fail(err) }

func (d *Device) sticky() error { return d.mem.Err() }

// Err is the sticky error, as Sync returns it.
func (d *Device) Err() error { return d.sticky() }

// Alloc returns a zeroed buffer of n values.
func (d *Device) Alloc(n int) (device.Buf, error) {
	if n < 0 {
		return nil, fmt.Errorf("emu: Alloc(%d): negative size", n)
	}
	if uint64(n) > math.MaxInt64/4 {
		return nil, fmt.Errorf("emu: Alloc(%d): too large", n)
	}
	if d.mem.Closed() {
		return nil, errors.New("emu: Alloc on a closed device")
	}
	// calloc(0) may return NULL; always ask for at least one value.
	p := C.calloc(C.size_t(max(n, 1)), 4)
	if p == nil {
		return nil, fmt.Errorf("emu: Alloc(%d): out of memory", n)
	}
	return d.mem.Add(p, n), nil
}

// Free releases a buffer from Alloc. Freeing a view, a buffer of another
// device or a buffer twice is recorded as an error.
func (d *Device) Free(b device.Buf) {
	a, ok := d.mem.ToFree(b)
	if !ok {
		return
	}
	d.mem.Drop(a)
	C.free(a.Ptr)
	a.Ptr = nil
}

// View is the n values of b from off on; it shares b's memory. An
// out-of-range view is recorded as an error and has length 0.
func (d *Device) View(b device.Buf, off, n int) device.Buf { return d.mem.View(b, off, n) }

// MemInfo reports the machine's available and total memory (MemAvailable
// and MemTotal of /proc/meminfo), since the emulator allocates from it; it
// fails where there is no /proc/meminfo. Allocated reports what this device
// holds.
func (d *Device) MemInfo() (free, total int64, err error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0, fmt.Errorf("emu: MemInfo: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 2 && fields[2] == "kB" {
			v *= 1024
		}
		switch fields[0] {
		case "MemTotal:":
			total = v
		case "MemAvailable:":
			free = v
		}
	}
	if err := s.Err(); err != nil {
		return 0, 0, fmt.Errorf("emu: MemInfo: %w", err)
	}
	if total == 0 {
		return 0, 0, errors.New("emu: MemInfo: no MemTotal in /proc/meminfo")
	}
	return free, total, nil
}

// Allocated is the number of bytes held by live buffers.
func (d *Device) Allocated() int64 { return d.mem.Bytes() }

// Sync returns the first failure. Launches are synchronous on the CPU.
func (d *Device) Sync() error { return d.sticky() }

// Close frees every buffer still allocated. Buffers must not be used after
// it.
func (d *Device) Close() error {
	d.mem.Close(func(a *devmem.Alloc[unsafe.Pointer]) {
		C.free(a.Ptr)
		a.Ptr = nil
	})
	return nil
}

// addr is the address of b's first value.
func addr(b *buf) unsafe.Pointer { return unsafe.Add(b.Alloc().Ptr, 4*b.Off()) }
