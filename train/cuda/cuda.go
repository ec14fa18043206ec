//go:build gpu

package cuda

// The GPU device: gorgonia.org/cu for the driver API (context, memory,
// module, launches) and gorgonia.org/cu/blas for SGEMM.
//
// Threading. A CUDA context is current per OS thread. Begin locks the
// calling goroutine to its thread and pushes the device's context; end pops
// it and unlocks. A mutex held from Begin to end keeps two goroutines from
// interleaving on one device. Every method called outside Begin binds the
// device for its own duration the same way, so a lone call works too (at
// the cost of a push and a pop), from any goroutine: it waits for the
// goroutine between Begin and end, if another, to finish. The owner is
// recognised by its OS thread (locked to it, so no other goroutine runs
// there).
//
// Ordering. Kernels, cuBLAS and memset/copies all go to the context's
// legacy default stream (stream 0, which cuBLAS handles also use unless
// told otherwise), so they run in issue order; launches return at once and
// Download (a synchronous copy) or Sync waits for them.

/*
#cgo LDFLAGS: -ldl
#include <stdio.h>
#include <stdlib.h>
#include <dlfcn.h>
#include <cuda.h>

// The driver (libcuda.so.1) and cuBLAS (libcublas.so.13) are loaded here,
// before the Go runtime starts, with dlopen: scripts/build-gpu.sh removes
// them from the binary's NEEDED list, so that the same binary starts on a
// machine without them and --device auto falls back to the CPU. The calls
// into them are bound lazily (PLT), at their first call, against these
// RTLD_GLOBAL handles. (A binary built without that step has them NEEDED;
// then dlopen returns the handles the loader already has.)
// The cuBLAS major version the binary was linked for (scripts/build-gpu.sh
// passes $CUBLAS_SONAME's).
#ifndef EVOSWARM_CUBLAS_MAJOR
#define EVOSWARM_CUBLAS_MAJOR 13
#endif
#define EVOSWARM_STR2(x) #x
#define EVOSWARM_STR(x) EVOSWARM_STR2(x)
#define EVOSWARM_CUBLAS_SONAME "libcublas.so." EVOSWARM_STR(EVOSWARM_CUBLAS_MAJOR)

static void* evoswarm_libcuda;
static void* evoswarm_libcublas;
static char evoswarm_dlerror[512];

__attribute__((constructor)) static void evoswarm_load_libraries(void)
{
	evoswarm_libcuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
	if (!evoswarm_libcuda) {
		snprintf(evoswarm_dlerror, sizeof evoswarm_dlerror, "%s", dlerror());
		return;
	}
	evoswarm_libcublas = dlopen(EVOSWARM_CUBLAS_SONAME, RTLD_NOW | RTLD_GLOBAL);
	if (!evoswarm_libcublas)
		snprintf(evoswarm_dlerror, sizeof evoswarm_dlerror, "%s", dlerror());
}

// gorgonia.org/cu calls cuInit(0) in its package init and exits the
// process when it fails. This definition of cuInit, in the executable,
// takes the place of the driver's for cu's call: it calls the driver's
// and keeps the result for Count to report, but tells cu that it
// succeeded, so that a machine whose driver cannot start (no GPU, a driver
// and library version mismatch, the stub library) or is not there at all
// gets an error from Count, and the program can go on without the GPU,
// instead of an exit during initialisation.
// evoswarm_cuinit_result: -1 not called, -2 a library did not load
// (evoswarm_dlerror says which), else the driver's CUresult.
int evoswarm_cuinit_result = -1;

CUresult CUDAAPI cuInit(unsigned int flags)
{
	if (!evoswarm_libcuda || !evoswarm_libcublas) {
		evoswarm_cuinit_result = -2;
		return CUDA_SUCCESS;
	}
	CUresult (*real)(unsigned int) = (CUresult(*)(unsigned int))dlsym(evoswarm_libcuda, "cuInit");
	CUresult r = real ? real(flags) : CUDA_ERROR_NOT_INITIALIZED;
	if (evoswarm_cuinit_result < 0)
		evoswarm_cuinit_result = (int)r;
	return CUDA_SUCCESS;
}

static const char* evoswarm_load_error(void) { return evoswarm_dlerror; }

static const char* evoswarm_cu_error_name(int code)
{
	const char* s = 0;
	if (cuGetErrorName((CUresult)code, &s) != CUDA_SUCCESS)
		return 0;
	return s;
}

static const char* evoswarm_cu_error_string(int code)
{
	const char* s = 0;
	if (cuGetErrorString((CUresult)code, &s) != CUDA_SUCCESS)
		return 0;
	return s;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/evoswarm/evoswarm/train/cuda/internal/devmem"
	"github.com/evoswarm/evoswarm/train/device"
	"gorgonia.org/cu"
	cublas "gorgonia.org/cu/blas"
)

func init() { device.Register("cuda", backend{}) }

type backend struct{}

// Count reports the number of CUDA devices, or why the driver did not
// initialise (gorgonia.org/cu calls cuInit in its package init; see the
// cuInit above), or which library did not load.
func (backend) Count() (int, error) {
	if r := int(C.evoswarm_cuinit_result); r != 0 {
		switch r {
		case -1:
			return 0, errors.New("cuda: cuInit was not called")
		case -2:
			return 0, fmt.Errorf("cuda: %s", C.GoString(C.evoswarm_load_error()))
		}
		return 0, fmt.Errorf("cuda: the driver did not initialise (cuInit: %s)", cuErrorText(r))
	}
	n, err := cu.NumDevices()
	if err != nil {
		return 0, fmt.Errorf("cuda: cuDeviceGetCount: %w (driver version %d)", err, cu.Version())
	}
	return n, nil
}

func (backend) Open(ordinal int) (device.Device, error) { return Open(ordinal) }

// cuErrorText names a CUresult, with the driver's words when it has them.
func cuErrorText(code int) string {
	name, desc := C.evoswarm_cu_error_name(C.int(code)), C.evoswarm_cu_error_string(C.int(code))
	if name != nil && desc != nil {
		return fmt.Sprintf("%s, %s (%d)", C.GoString(name), C.GoString(desc), code)
	}
	switch code { // the likely ones, for a driver that cannot say
	case 3:
		return "CUDA_ERROR_NOT_INITIALIZED (3)"
	case 34:
		return "CUDA_ERROR_STUB_LIBRARY (34): libcuda.so.1 is a stub, not the NVIDIA driver"
	case 35:
		return "CUDA_ERROR_INSUFFICIENT_DRIVER (35)"
	case 100:
		return "CUDA_ERROR_NO_DEVICE (100)"
	case 803:
		return "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH (803)"
	case 804:
		return "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE (804)"
	}
	return fmt.Sprintf("CUresult %d", code)
}

// PTXEnv names the environment variable that, when set, names a PTX file
// to load instead of the embedded kernels.ptx.
const PTXEnv = "EVOSWARM_CUDA_PTX"

// SyncEnv names the environment variable that, set to 1, makes every
// launch synchronous and checked (to find which kernel fails).
const SyncEnv = "EVOSWARM_CUDA_SYNC"

// Device is one CUDA GPU. Open one with Open.
type Device struct {
	mu    sync.Mutex   // held from Begin to end
	owner atomic.Int64 // the OS thread between Begin and end, or 0

	ordinal int
	dev     cu.Device
	ctx     cu.CUContext
	blas    *cublas.Standard
	mod     cu.Module
	fns     [NumKernels]cu.Function
	name    string
	ptxFrom string
	maxGrid int
	syncAll bool

	// mem holds the allocations, the buffers over them and the sticky
	// error (the first failure).
	mem    *devmem.Memory[cu.DevicePtr]
	closed bool

	slots  [16]uint64
	params [16]unsafe.Pointer
}

var _ device.Device = (*Device)(nil)

// buf is a device.Buf of this package: n values of an allocation from off.
type buf = devmem.Buf[cu.DevicePtr]

// ptr is the device address of b's first value.
func ptr(b *buf) cu.DevicePtr { return b.Alloc().Ptr + cu.DevicePtr(4*b.Off()) }

// Open opens device ordinal: a context of its own (left not current),
// a cuBLAS handle and the kernels' module.
func Open(ordinal int) (d *Device, err error) {
	n, err := backend{}.Count()
	if err != nil {
		return nil, err
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("cuda: device %d of %d", ordinal, n)
	}
	ptx, from := kernelsPTX, "embedded kernels.ptx"
	if f := os.Getenv(PTXEnv); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("cuda: %s: %w", PTXEnv, err)
		}
		ptx, from = string(b), f
	}
	if err := CheckPTX(ptx); err != nil {
		return nil, fmt.Errorf("cuda: %s: %w", from, err)
	}

	d = &Device{ordinal: ordinal, ptxFrom: from, mem: devmem.New[cu.DevicePtr]("cuda"),
		syncAll: os.Getenv(SyncEnv) == "1"}
	for i := range d.params {
		d.params[i] = unsafe.Pointer(&d.slots[i])
	}
	if d.dev, err = cu.GetDevice(ordinal); err != nil {
		return nil, fmt.Errorf("cuda: device %d: %w", ordinal, err)
	}
	name, err := d.dev.Name()
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: name: %w", ordinal, err)
	}
	total, _ := d.dev.TotalMem()
	major, _ := d.dev.Attribute(cu.ComputeCapabilityMajor)
	minor, _ := d.dev.Attribute(cu.ComputeCapabilityMinor)
	sms, _ := d.dev.Attribute(cu.MultiprocessorCount)
	d.maxGrid = GridCap(sms)
	d.name = fmt.Sprintf("cuda:%d %s, %.1f GiB, compute capability %d.%d, %d SMs, driver %s",
		ordinal, name, float64(total)/(1<<30), major, minor, sms, driverVersion())

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// cuCtxCreate makes the new context current on this thread.
	if d.ctx, err = d.dev.MakeContext(cu.SchedAuto); err != nil {
		return nil, fmt.Errorf("cuda: device %d: create context: %w", ordinal, err)
	}
	ok := false
	defer func() {
		if !ok {
			if d.blas != nil {
				d.blas.Close()
			}
			cu.PopCurrentCtx()
			d.ctx.Destroy()
		}
	}()
	// The cuBLAS handle binds to the context current at its creation.
	d.blas = new(cublas.Standard)
	if err := d.blas.Init(); err != nil {
		d.blas = nil
		return nil, fmt.Errorf("cuda: device %d: cuBLAS: %w", ordinal, err)
	}
	if d.mod, err = loadModule(ptx); err != nil {
		return nil, fmt.Errorf("cuda: device %d: load %s: %w", ordinal, from, err)
	}
	for i := range Kernels {
		if d.fns[i], err = d.mod.Function(Kernels[i].Name); err != nil {
			d.mod.Unload()
			return nil, fmt.Errorf("cuda: device %d: kernel %s: %w", ordinal, Kernels[i].Name, err)
		}
	}
	if _, err := cu.PopCurrentCtx(); err != nil {
		d.mod.Unload()
		return nil, fmt.Errorf("cuda: device %d: pop context: %w", ordinal, err)
	}
	ok = true
	return d, nil
}

func driverVersion() string {
	v := cu.Version()
	if v <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

// loadModule JIT-compiles ptx for the current context, with the JIT's
// error log in the error.
func loadModule(ptx string) (cu.Module, error) {
	const logSize = 16 << 10
	// The log buffer is C memory: the option values are passed to C
	// through a Go slice, where a Go pointer is not allowed.
	p := C.calloc(logSize, 1)
	defer C.free(p)
	logBuf := unsafe.Slice((*byte)(p), logSize)
	mod, err := cu.LoadDataEx(ptx, &cu.JITErrorLogBuffer{Buffer: logBuf})
	if err != nil {
		if msg := strings.TrimSpace(C.GoString((*C.char)(p))); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
	}
	return mod, err
}

// Name describes the device.
func (d *Device) Name() string { return d.name }

// PTXSource says which PTX the device loaded.
func (d *Device) PTXSource() string { return d.ptxFrom }

var errClosed = errors.New("cuda: device closed")

// Begin binds the device to the calling goroutine until end is called.
// Calls do not nest: Begin between Begin and end fails.
func (d *Device) Begin() (end func(), err error) {
	if d.owner.Load() == int64(syscall.Gettid()) {
		return func() {}, errors.New("cuda: Begin between Begin and end (calls do not nest)")
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return func() {}, errClosed
	}
	runtime.LockOSThread()
	if err := cu.PushCurrentCtx(d.ctx); err != nil {
		runtime.UnlockOSThread()
		d.mu.Unlock()
		return func() {}, fmt.Errorf("cuda: make context current: %w", err)
	}
	d.owner.Store(int64(syscall.Gettid()))
	var once sync.Once
	return func() {
		once.Do(func() {
			d.owner.Store(0)
			if !d.closed {
				cu.PopCurrentCtx()
			}
			runtime.UnlockOSThread()
			d.mu.Unlock()
		})
	}, nil
}

// enter binds the device unless the caller is between Begin and end.
func (d *Device) enter() (leave func(), err error) {
	if d.owner.Load() == int64(syscall.Gettid()) {
		return func() {}, nil
	}
	return d.Begin()
}

// fail records err as the sticky error unless one is already recorded.
func (d *Device) fail(err error) { d.mem.Fail(err) }

func (d *Device) sticky() error { return d.mem.Err() }

// Err is the sticky error recorded so far (without synchronising).
func (d *Device) Err() error { return d.sticky() }

// own checks that b is a live buffer of d.
func (d *Device) own(b device.Buf) (*buf, error) { return d.mem.Own(b) }

// Alloc returns a zeroed buffer of n values.
func (d *Device) Alloc(n int) (device.Buf, error) {
	if n < 0 || int64(n) > (1<<62)/4 {
		return nil, fmt.Errorf("cuda: Alloc(%d): bad size", n)
	}
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return nil, err
	}
	var p cu.DevicePtr
	if n > 0 {
		if p, err = cu.MemAlloc(4 * int64(n)); err != nil {
			return nil, fmt.Errorf("cuda: Alloc(%d values, %d MiB): %w", n, (4*int64(n))>>20, err)
		}
		if err := cu.MemsetD32(p, 0, int64(n)); err != nil {
			cu.MemFree(p)
			return nil, fmt.Errorf("cuda: Alloc(%d): zero: %w", n, err)
		}
	}
	return d.mem.Add(p, n), nil
}

// Free releases a buffer from Alloc; freeing a view, a foreign buffer or a
// buffer twice is recorded as an error.
func (d *Device) Free(b device.Buf) {
	a, ok := d.mem.ToFree(b)
	if !ok {
		return
	}
	leave, err := d.enter()
	defer leave()
	if err != nil {
		d.fail(err)
		return
	}
	d.mem.Drop(a)
	if a.N > 0 {
		if err := cu.MemFree(a.Ptr); err != nil {
			d.fail(fmt.Errorf("cuda: Free: %w", err))
		}
	}
}

// View is the n values of b from off on. An out-of-range view is recorded
// as an error and has length 0.
func (d *Device) View(b device.Buf, off, n int) device.Buf { return d.mem.View(b, off, n) }

// MemInfo reports the device's free and total memory.
func (d *Device) MemInfo() (free, total int64, err error) {
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return 0, 0, err
	}
	free, total, err = cu.MemInfo()
	if err != nil {
		err = fmt.Errorf("cuda: MemInfo: %w", err)
	}
	return free, total, err
}

// Sync waits for every launch and returns the first failure.
func (d *Device) Sync() error {
	if err := d.sticky(); err != nil {
		return err
	}
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return err
	}
	return d.sync("Sync")
}

// sync synchronises the context (bound) and records a failure.
func (d *Device) sync(op string) error {
	if err := cu.Synchronize(); err != nil {
		err = fmt.Errorf("cuda: %s: %w", op, err)
		d.fail(err)
		return err
	}
	return d.sticky()
}

// Close frees every buffer, the cuBLAS handle, the module and the context.
// Buffers must not be used after it.
func (d *Device) Close() error {
	leave, err := d.enter()
	if err != nil {
		if err == errClosed {
			return nil
		}
		return err
	}
	defer leave()
	var errs []error
	if err := cu.Synchronize(); err != nil {
		errs = append(errs, fmt.Errorf("synchronize: %w", err))
	}
	d.mem.Close(func(a *devmem.Alloc[cu.DevicePtr]) {
		if a.N > 0 {
			if err := cu.MemFree(a.Ptr); err != nil {
				errs = append(errs, fmt.Errorf("free: %w", err))
			}
		}
	})
	if err := d.blas.Close(); err != nil {
		errs = append(errs, fmt.Errorf("cuBLAS: %w", err))
	}
	if err := d.mod.Unload(); err != nil {
		errs = append(errs, fmt.Errorf("module: %w", err))
	}
	cu.PopCurrentCtx()
	if err := d.ctx.Destroy(); err != nil {
		errs = append(errs, fmt.Errorf("context: %w", err))
	}
	d.closed = true
	if len(errs) > 0 {
		return fmt.Errorf("cuda: Close: %w", errors.Join(errs...))
	}
	return nil
}
