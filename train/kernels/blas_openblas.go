//go:build openblas

package kernels

// #cgo LDFLAGS: -lopenblas
// #include <cblas.h>
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/netlib/blas/netlib"
)

// BLAS names the matrix-product implementation this binary was built with.
const BLAS = "openblas"

func init() {
	// Kernels split batches over goroutines themselves; OpenBLAS's own
	// threads would oversubscribe the cores.
	C.openblas_set_num_threads(1)
	blas32.Use(netlib.Implementation{})
}
