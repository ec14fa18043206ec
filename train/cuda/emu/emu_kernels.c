//go:build cgo

// The CUDA C kernels of ../kernels.cu, compiled once, as plain C, for the
// emulator. No CUDA macro is defined here, so kernels.cu takes its C branch:
// each kernel's grid-stride loop becomes an ordinary loop over its work
// items. The prototypes the Go side sees are in emu.h.
//
// The go command does not notice changes to a file included from outside
// the package directory, so it would keep reusing a build of an older
// kernels.cu. kernels_sum.go pins the SHA-256 of the source: any change to
// kernels.cu must be followed by regenerating it (go generate, see
// kernels_sum_test.go), which changes the package and so rebuilds this file.
#include "emu.h"
#include "../kernels.cu"
