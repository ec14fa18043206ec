// Package kernels holds the numerical kernels of the training engine: the
// forward and backward passes of every operation a genome's network uses,
// on float32 tensors in NCHW layout. They are plain functions over slices,
// with no graph and no allocation in the hot path; the train package wraps
// them as gorgonia ops. This is the one layer to change for faster
// implementations (another BLAS, SIMD, a GPU): nothing above it computes.
//
// Matrix products go through gonum's blas32, so the BLAS is chosen at build
// time: pure Go by default, OpenBLAS with the openblas build tag.
package kernels

import "sync"

// parallel runs fn(worker, lo, hi) over [0, n) split into at most workers
// contiguous ranges, and waits. Each kernel has its own worker count (its
// Workers field, set by whoever builds it: a node gives each network its
// share of the cores), so nothing here is global.
func parallel(workers, n int, fn func(worker, lo, hi int)) {
	w := min(max(workers, 1), n)
	if w <= 1 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for i := range w {
		lo, hi := i*n/w, (i+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i, lo, hi)
		}()
	}
	wg.Wait()
}
