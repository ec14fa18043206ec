package devmem

import (
	"strings"
	"testing"
)

// The bookkeeping's rules, which both backends' tests also exercise through
// their devices: views share an allocation, freeing reaches every view,
// and the first misuse is the sticky error.
func TestBookkeeping(t *testing.T) {
	m := New[int]("test")
	a := m.Add(7, 10)
	if a.Len() != 10 || a.Alloc().Ptr != 7 || m.Bytes() != 40 {
		t.Fatalf("Add: len %d, ptr %d, bytes %d", a.Len(), a.Alloc().Ptr, m.Bytes())
	}
	v := m.View(a, 2, 5).(*Buf[int])
	if v.Len() != 5 || v.Off() != 2 || v.Alloc() != a.Alloc() {
		t.Fatalf("View: len %d off %d", v.Len(), v.Off())
	}
	if w := m.View(v, 1, 3).(*Buf[int]); w.Off() != 3 || w.Len() != 3 {
		t.Fatalf("view of a view: off %d len %d", w.Off(), w.Len())
	}
	if _, err := m.span(v, 6); err == nil {
		t.Error("Span of 6 values of a view of 5: no error")
	}
	if m.Err() != nil {
		t.Fatalf("sticky error before any misuse: %v", m.Err())
	}
	if _, ok := m.ToFree(v); ok {
		t.Error("ToFree of a view: ok")
	}
	if err := m.Err(); err == nil || !strings.Contains(err.Error(), "test: Free: a view") {
		t.Errorf("sticky error %v, want the view's", err)
	}
	if bad := m.View(a, 8, 5); bad.Len() != 0 {
		t.Errorf("out-of-range view has %d values", bad.Len())
	}
	if err := m.Err(); !strings.Contains(err.Error(), "Free") {
		t.Errorf("a later failure replaced the sticky error: %v", err)
	}
	other := New[int]("test")
	if _, err := other.Own(a); err == nil || !strings.Contains(err.Error(), "another device") {
		t.Errorf("Own of another memory's buffer: %v", err)
	}
	al, ok := m.ToFree(a)
	if !ok {
		t.Fatal("ToFree of a whole buffer failed")
	}
	m.Drop(al)
	if _, err := m.Own(v); err == nil || !strings.Contains(err.Error(), "freed") {
		t.Errorf("Own of a view of a freed buffer: %v", err)
	}
	if m.Bytes() != 0 {
		t.Errorf("%d bytes after Drop", m.Bytes())
	}
	b := m.Add(9, 3)
	var released []int
	m.Close(func(a *Alloc[int]) { released = append(released, a.Ptr) })
	if len(released) != 1 || released[0] != 9 || !m.Closed() {
		t.Errorf("Close released %v, closed %v", released, m.Closed())
	}
	if _, err := m.Own(b); err == nil {
		t.Error("Own after Close: no error")
	}
	if _, err := m.Own(nil); err == nil || err.Error() != "nil buffer" {
		t.Errorf("Own(nil): %v", err)
	}
}
