//go:build !openblas

package kernels

// BLAS names the matrix-product implementation this binary was built with:
// gonum's pure Go. Build with -tags openblas for OpenBLAS (needs
// libopenblas-dev and cgo).
const BLAS = "gonum"
