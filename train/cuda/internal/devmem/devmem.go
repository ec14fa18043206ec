// Package devmem is the buffer bookkeeping that the CUDA backend
// (train/cuda) and its CPU emulator (train/cuda/emu) share: the table of a
// device's allocations, the buffers and views over them, the checks that a
// buffer handed to a device is a live one of its own, and the device's
// sticky error.
//
// What an allocation holds (a CUDA device pointer, C memory) and how it is
// obtained and released stay with the backend; a Memory only records
// allocations the backend made, and tells it which to release. Errors are
// worded as the backends always worded them, prefixed with the backend's
// name ("cuda: View: ...").
package devmem

import (
	"errors"
	"fmt"
	"sync"

	"github.com/evoswarm/evoswarm/train/device"
)

// Alloc is one allocation of N 32-bit values at Ptr, made by the backend.
type Alloc[P any] struct {
	Ptr   P
	N     int
	freed bool
}

// Buf is a device.Buf of a Memory: the n values of an allocation from off.
// A view shares its allocation.
type Buf[P any] struct {
	mem *Memory[P]
	a   *Alloc[P]
	off int
	n   int
}

// Len is the number of values.
func (b *Buf[P]) Len() int { return b.n }

// Alloc is the allocation b lies in.
func (b *Buf[P]) Alloc() *Alloc[P] { return b.a }

// Off is where b starts in its allocation, in values.
func (b *Buf[P]) Off() int { return b.off }

// Memory is one device's bookkeeping: its live allocations, the bytes they
// hold, whether it is closed, and its sticky error (the first failure of a
// call that returns none). It is safe for concurrent use.
type Memory[P any] struct {
	name string // the backend, as errors name it

	mu     sync.Mutex
	err    error
	allocs map[*Alloc[P]]struct{}
	bytes  int64
	closed bool
}

// New returns the bookkeeping of a device of the backend name.
func New[P any](name string) *Memory[P] {
	return &Memory[P]{name: name, allocs: map[*Alloc[P]]struct{}{}}
}

// Fail records err as the sticky error unless one is already recorded.
func (m *Memory[P]) Fail(err error) {
	m.mu.Lock()
	if m.err == nil {
		m.err = err
	}
	m.mu.Unlock()
}

// Err is the sticky error, or nil.
func (m *Memory[P]) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Add records an allocation of n values that the backend made at p and
// returns the buffer of all of it.
func (m *Memory[P]) Add(p P, n int) *Buf[P] {
	a := &Alloc[P]{Ptr: p, N: n}
	m.mu.Lock()
	m.allocs[a] = struct{}{}
	m.bytes += 4 * int64(n)
	m.mu.Unlock()
	return &Buf[P]{mem: m, a: a, n: n}
}

// Own checks that b is a live buffer of m.
func (m *Memory[P]) Own(b device.Buf) (*Buf[P], error) {
	bb, ok := b.(*Buf[P])
	switch {
	case b == nil || (ok && bb == nil):
		return nil, errors.New("nil buffer")
	case !ok:
		return nil, fmt.Errorf("a %T, not a buffer of this device", b)
	case bb.mem != m:
		return nil, errors.New("a buffer of another device")
	}
	m.mu.Lock()
	freed := bb.a.freed
	m.mu.Unlock()
	if freed {
		return nil, errors.New("a freed buffer")
	}
	return bb, nil
}

// span checks that b is a live buffer of m with at least n values, as a
// transfer of n values needs.
func (m *Memory[P]) span(b device.Buf, n int) (*Buf[P], error) {
	bb, err := m.Own(b)
	if err == nil && (n < 0 || n > bb.n) {
		err = fmt.Errorf("%d values for a buffer of %d", n, bb.n)
	}
	return bb, err
}

// Transfer checks that b is a live buffer of m with at least n values for
// a transfer (op names it in the error), then returns the sticky error if
// there is one: a transfer after a failure copies nothing.
func (m *Memory[P]) Transfer(op string, b device.Buf, n int) (*Buf[P], error) {
	bb, err := m.span(b, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", m.name, op, err)
	}
	if err := m.Err(); err != nil {
		return nil, err
	}
	return bb, nil
}

// ToFree checks that b is a whole allocation of m, as Free needs, and
// returns it; freeing a view, a foreign buffer or a buffer twice is
// recorded as the sticky error and ok is false. The backend releases the
// allocation and then calls Drop.
func (m *Memory[P]) ToFree(b device.Buf) (a *Alloc[P], ok bool) {
	bb, err := m.Own(b)
	if err == nil && (bb.off != 0 || bb.n != bb.a.N) {
		err = errors.New("a view, not a buffer from Alloc")
	}
	if err != nil {
		m.Fail(fmt.Errorf("%s: Free: %w", m.name, err))
		return nil, false
	}
	return bb.a, true
}

// Drop forgets a freed allocation: every buffer over it is freed from now
// on.
func (m *Memory[P]) Drop(a *Alloc[P]) {
	m.mu.Lock()
	delete(m.allocs, a)
	m.bytes -= 4 * int64(a.N)
	a.freed = true
	m.mu.Unlock()
}

// View is the n values of b from off on; it shares b's memory. An
// out-of-range view, or a view of a buffer that is not m's live one, is
// recorded as the sticky error and has length 0.
func (m *Memory[P]) View(b device.Buf, off, n int) device.Buf {
	bb, err := m.Own(b)
	if err == nil && (off < 0 || n < 0 || off > bb.n || n > bb.n-off) {
		err = fmt.Errorf("values [%d, %d+%d) of a buffer of %d", off, off, n, bb.n)
	}
	if err != nil {
		m.Fail(fmt.Errorf("%s: View: %w", m.name, err))
		if bb == nil {
			return &Buf[P]{mem: m, a: &Alloc[P]{freed: true}}
		}
		return &Buf[P]{mem: m, a: bb.a, off: bb.off}
	}
	return &Buf[P]{mem: m, a: bb.a, off: bb.off + off, n: n}
}

// Bytes is the number of bytes held by live allocations.
func (m *Memory[P]) Bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}

// Close calls release for every live allocation, marks it freed and marks
// m closed. release must not call m.
func (m *Memory[P]) Close(release func(a *Alloc[P])) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for a := range m.allocs {
		release(a)
		a.freed = true
	}
	clear(m.allocs)
	m.bytes = 0
	m.closed = true
}

// Closed reports whether Close was called.
func (m *Memory[P]) Closed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}
