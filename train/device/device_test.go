package device

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	for in, want := range map[string]Spec{
		"": {Kind: "cpu"}, "cpu": {Kind: "cpu"}, "auto": {Kind: "auto", Ordinal: -1},
		"cuda": {Kind: "cuda"}, "cuda:3": {Kind: "cuda", Ordinal: 3}, "cuda:all": {Kind: "cuda", Ordinal: -1},
		"emu": {Kind: "emu"},
	} {
		got, err := ParseSpec(in)
		if err != nil || got != want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if in != "" && got.String() != in && !(in == "cuda" && got.String() == "cuda:0") {
			t.Errorf("%+v prints as %q, parsed from %q", got, got.String(), in)
		}
	}
	for _, bad := range []string{"gpu", "cuda:", "cuda:-1", "cuda:x", "CUDA", "cpu:0"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) accepted", bad)
		}
	}
}

// fake is a backend with n devices, or a load error; opening ordinal
// failAt fails.
type fake struct {
	n      int
	err    error
	failAt int
	open   map[int]bool
}

type fakeDev struct {
	Device
	f *fake
	i int
}

func (d fakeDev) Close() error { delete(d.f.open, d.i); return nil }

func (f *fake) Count() (int, error) { return f.n, f.err }
func (f *fake) Open(i int) (Device, error) {
	if i == f.failAt {
		return nil, errors.New("out of memory")
	}
	f.open[i] = true
	return fakeDev{f: f, i: i}, nil
}

func TestOpen(t *testing.T) {
	defer func() { delete(backends, "cuda") }()
	spec := func(s string) Spec {
		sp, err := ParseSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	// No backend: auto falls back with a note, cuda fails clearly.
	delete(backends, "cuda")
	if devs, note, err := Open(spec("auto")); err != nil || devs != nil || !strings.Contains(note, "-tags gpu") {
		t.Errorf("auto without a backend: %v %q %v", devs, note, err)
	}
	if _, _, err := Open(spec("cuda")); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("cuda without a backend: %v", err)
	}
	if devs, note, err := Open(spec("cpu")); devs != nil || note != "" || err != nil {
		t.Errorf("cpu: %v %q %v", devs, note, err)
	}

	f := &fake{err: errors.New("libcuda.so.1: cannot open shared object file"), failAt: -1, open: map[int]bool{}}
	Register("cuda", f)
	if devs, note, err := Open(spec("auto")); err != nil || devs != nil || !strings.Contains(note, "libcuda.so.1") || !strings.Contains(note, "CPU") {
		t.Errorf("auto, driver missing: %v %q %v", devs, note, err)
	}
	if _, _, err := Open(spec("cuda:0")); err == nil || !strings.Contains(err.Error(), "libcuda.so.1") {
		t.Errorf("cuda:0, driver missing: %v", err)
	}
	f.err = nil // a driver, no GPU
	if devs, note, err := Open(spec("auto")); err != nil || devs != nil || !strings.Contains(note, "no cuda device") {
		t.Errorf("auto, no GPU: %v %q %v", devs, note, err)
	}
	f.n = 3
	if devs, _, err := Open(spec("auto")); err != nil || len(devs) != 3 || len(f.open) != 3 {
		t.Errorf("auto, 3 GPUs: %d devices, %v", len(devs), err)
	}
	clear(f.open)
	if devs, _, err := Open(spec("cuda:2")); err != nil || len(devs) != 1 || !f.open[2] {
		t.Errorf("cuda:2: %v, %v", devs, err)
	}
	clear(f.open)
	if _, _, err := Open(spec("cuda:3")); err == nil || !strings.Contains(err.Error(), "3 CUDA devices") {
		t.Errorf("cuda:3 of 3: %v", err)
	}
	// A device that fails to open: the others are closed again; auto
	// falls back, cuda:all fails.
	f.failAt = 1
	if devs, note, err := Open(spec("auto")); err != nil || devs != nil || !strings.Contains(note, "out of memory") || len(f.open) != 0 {
		t.Errorf("auto, device 1 fails: %v %q %v, %d left open", devs, note, err, len(f.open))
	}
	if _, _, err := Open(spec("cuda:all")); err == nil || len(f.open) != 0 {
		t.Errorf("cuda:all, device 1 fails: %v, %d left open", err, len(f.open))
	}
}
