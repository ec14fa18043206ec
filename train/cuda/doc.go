// Package cuda is the NVIDIA GPU implementation of device.Device: memory,
// kernel launches and SGEMM through gorgonia.org/cu (the CUDA driver API)
// and gorgonia.org/cu/blas (cuBLAS).
//
// The GPU code is built only with -tags gpu, which needs cgo, the CUDA
// headers and libraries to link against; scripts/cuda-sdk.sh makes a small
// SDK for that once per user in ~/.cache/evoswarm/cuda-11.8 (headers and
// stub libraries), so a machine without a GPU or a CUDA installation can
// build the binary:
//
//	eval "$(scripts/cuda-sdk.sh --env)"
//	CGO_CFLAGS=-I$CUDA_SDK_INCLUDE CGO_LDFLAGS=-L$CUDA_SDK_STUBS go build -tags gpu ./...
//
// The tag is not "cuda" because gorgonia.org/gorgonia uses that one for its
// own CUDA build (which needs cuDNN 8 and changes how its CPU graphs run):
// -tags cuda would switch every package that imports gorgonia over to it.
//
// Such a binary loads libcuda.so.1 (the NVIDIA driver) and libcublas.so.13
// (cuBLAS 13: the CUDA 13 toolkit's, or the nvidia-cublas wheel of a
// PyTorch installation, via LD_LIBRARY_PATH) with dlopen before the Go
// runtime starts; scripts/build-gpu.sh removes them from the binary's
// NEEDED list, so the same binary starts where they are missing and
// --device auto trains on the CPU there. gorgonia.org/cu calls cuInit in
// its package init and exits the process when that fails; cuda.go
// interposes cuInit so that a missing library or a driver that cannot
// start (no GPU, a version mismatch) is an error from the backend's Count
// instead.
//
// The kernels are the CUDA C of kernels.cu, compiled to kernels.ptx by
// scripts/gen-ptx.sh (nvcc, or clang when there is no nvcc) and embedded in
// the binary; the driver JIT-compiles the PTX (compute capability 7.0) for
// the GPU it runs on. Setting EVOSWARM_CUDA_PTX to a file name loads that
// PTX instead (for testing a freshly generated one).
//
// Without the gpu tag the package holds only the pure-Go host-side
// helpers (the kernel table, launch configuration, PTX parsing and
// parameter packing), which are tested on the CPU; train/cuda/emu runs the
// same kernels.cu on the CPU. Both keep their buffers with
// train/cuda/internal/devmem: the allocation table, views, the checks that
// a buffer is a live one of the device's own, and the sticky error.
package cuda
