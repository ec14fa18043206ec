package node

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// writeIDX writes a tiny learnable data set in the IDX format to dir:
// h x w grey images of 10 classes, class k a bright bar in row band k on
// noise, ntrain training and ntest test images.
func writeIDX(t *testing.T, dir string, h, w, ntrain, ntest int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	write := func(name string, n int) {
		imgs := make([]byte, 16+n*h*w)
		binary.BigEndian.PutUint32(imgs[0:], 0x00000803)
		binary.BigEndian.PutUint32(imgs[4:], uint32(n))
		binary.BigEndian.PutUint32(imgs[8:], uint32(h))
		binary.BigEndian.PutUint32(imgs[12:], uint32(w))
		labels := make([]byte, 8+n)
		binary.BigEndian.PutUint32(labels[0:], 0x00000801)
		binary.BigEndian.PutUint32(labels[4:], uint32(n))
		for i := range n {
			k := rng.IntN(10)
			labels[8+i] = byte(k)
			img := imgs[16+i*h*w : 16+(i+1)*h*w]
			for j := range img {
				img[j] = byte(rng.IntN(60))
			}
			row := k * h / 10
			for x := range w {
				img[row*w+x] = byte(180 + rng.IntN(70))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-images-idx3-ubyte"), imgs, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-labels-idx1-ubyte"), labels, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("train", ntrain)
	write("t10k", ntest)
}

// ourGoroutines lists the goroutines, other than the caller's, with a
// frame in evoswarm's own packages.
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var ours []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i > 0 && strings.Contains(g, "github.com/evoswarm/evoswarm/") {
			ours = append(ours, g)
		}
	}
	return ours
}

// TestNodeLifecycleOnSyntheticData runs a node's whole life on a data set
// the test writes (no Fashion-MNIST needed): init, open, run to a few
// children, stop, and open again. Nothing the node started is left
// running after Close, a second Open of a running repo is refused, and
// the population survives the restart.
func TestNodeLifecycleOnSyntheticData(t *testing.T) {
	data := t.TempDir()
	writeIDX(t, data, 12, 12, 600, 100)
	dir := t.TempDir()
	exp, err := Preset("smoke")
	if err != nil {
		t.Fatal(err)
	}
	exp.Data = data
	if _, err := Init(dir, exp); err != nil {
		t.Fatal(err)
	}
	if err := SaveConfig(dir, LoopbackConfig()); err != nil {
		t.Fatal(err)
	}
	before := len(ourGoroutines())

	n, err := Open(dir, Options{MaxChildren: 4, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "another evoswarm process") {
		t.Errorf("a second Open of a repo in use: %v, want a refusal naming the other daemon", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ready := false
	if err := n.Run(ctx, func(Ready) { ready = true }); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil || !ready {
		t.Fatalf("the node did not start and stop after 4 children within 2 minutes (ready %v)", ready)
	}
	st, err := n.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.TrainedTotal < uint64(exp.Population)+1 || st.Alive < 2 {
		t.Fatalf("after 4 children: %d trained, %d alive", st.TrainedTotal, st.Alive)
	}
	alive := st.Alive
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// Run waited for what it started; give exiting goroutines a moment to
	// leave the scheduler's list.
	var left []string
	for range 50 {
		if left = ourGoroutines(); len(left) <= before {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > before {
		t.Errorf("%d goroutines of ours still running after Close (%d before Open):\n%s", len(left), before, strings.Join(left, "\n\n"))
	}

	again, err := Open(dir, Options{Logger: testLog(t)})
	if err != nil {
		t.Fatalf("reopening after a clean stop: %v", err)
	}
	defer again.Close()
	st2, err := again.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st2.Alive != alive || st2.TrainedTotal != st.TrainedTotal {
		t.Errorf("after the restart: %d alive, %d trained; before it %d alive, %d trained", st2.Alive, st2.TrainedTotal, alive, st.TrainedTotal)
	}
}
