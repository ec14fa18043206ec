package train

import (
	"context"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestTrainStaysOnOneThread: every step of a training runs on the OS
// thread the run started on, whatever else the Go scheduler has to do.
// OpenMP keeps a team of worker threads per calling thread, so a run that
// wandered between threads at two threads left the previous team spinning
// beside the current one (half speed, erratically, on small networks).
func TestTrainStaysOnOneThread(t *testing.T) {
	data := quadrants(t, 200)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	stop := make(chan struct{})
	var busy sync.WaitGroup
	for range 4 { // keep every P busy, so that a parked goroutine resumes wherever one frees up
		busy.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					runtime.Gosched()
				}
			}
		})
	}
	defer busy.Wait()
	defer close(stop)
	tids := map[int]bool{}
	_, err := Train(context.Background(), skipNet(t), nil, data, smallConfig(60), RunOptions{Seed: 1, Progress: func(int, float64) {
		tids[syscall.Gettid()] = true
		time.Sleep(200 * time.Microsecond) // park: an unlocked goroutine may come back on another thread
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tids) != 1 {
		t.Errorf("60 steps ran on %d OS threads, want 1", len(tids))
	}
}
