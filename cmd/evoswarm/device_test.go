package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDeviceFlag: the default build has no GPU backend; --device says so
// clearly, auto falls back to the CPU with one line, and a bad value is
// refused.
func TestDeviceFlag(t *testing.T) {
	needFashion(t)
	_, errOut, code := run(t, nil, "bench", "train", "--steps", "1", "--device", "cuda")
	if code == 0 || !strings.Contains(errOut, "-tags gpu") {
		t.Errorf("--device cuda without CUDA: exit %d, stderr %q; want an error naming -tags gpu", code, errOut)
	}
	_, errOut, code = run(t, nil, "bench", "train", "--steps", "1", "--device", "gpu7")
	if code == 0 || !strings.Contains(errOut, "want cpu, cuda") {
		t.Errorf("--device gpu7: exit %d, stderr %q", code, errOut)
	}
	out, errOut, code := run(t, nil, "bench", "train", "--steps", "2", "--device", "auto", "--json")
	if code != 0 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "training on the CPU") {
		t.Fatalf("--device auto: exit %d, stderr %q; want one line saying it uses the CPU", code, errOut)
	}
	var r benchTrainResult
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Steps != 2 {
		t.Errorf("--device auto trained %+v (%v)", r, err)
	}
}

// emuBinary builds evoswarm with -tags emu: --device emu runs the GPU path
// (the device engine, the CUDA C kernels compiled for the CPU).
func emuBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "evoswarm-emu")
	if out, err := exec.Command("go", "build", "-tags", "emu", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags emu: %v\n%s", err, out)
	}
	return bin
}

// TestDeviceEmu runs the GPU path end to end on the emulated device: the
// agreement check the GPU script runs, and a daemon whose worker trains on
// the device.
func TestDeviceEmu(t *testing.T) {
	needFashion(t)
	if testing.Short() {
		t.Skip("builds a second binary and trains; skipped with -short")
	}
	bin := emuBinary(t)
	out, err := exec.Command(bin, "bench", "agree", "--device", "emu", "--steps", "8", "--json").Output()
	if err != nil {
		t.Fatalf("bench agree --device emu: %v\n%s", err, out)
	}
	var ag agreeResult
	if err := json.Unmarshal(out, &ag); err != nil {
		t.Fatal(err)
	}
	if !ag.Pass || len(ag.Genomes) != 3 || !strings.HasPrefix(ag.Device, "emu") {
		t.Fatalf("agreement %+v", ag)
	}
	for _, g := range ag.Genomes {
		if !g.SameInitialWeights || len(g.LossCPU) != 8 || g.LogitsMaxDiff > 1e-4 {
			t.Errorf("genome %s: same weights %v, %d losses, logits %.2e apart", g.Genome, g.SameInitialWeights, len(g.LossCPU), g.LogitsMaxDiff)
		}
	}

	repo := initRepo(t, "smoke")
	d := startDaemonBin(t, bin, repo, "--device", "emu")
	defer func() {
		d.cmd.Process.Signal(os.Interrupt)
		d.cmd.Wait()
	}()
	var st struct {
		TrainedTotal uint64   `json:"trained_total"`
		Devices      []string `json:"devices"`
		Best         *struct {
			ValAccuracy float64 `json:"val_accuracy"`
		} `json:"best"`
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if err := d.get(t, "/api/v1/status", &st); err != nil {
			t.Fatal(err)
		}
		if st.TrainedTotal >= 6 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if st.TrainedTotal < 6 || len(st.Devices) != 1 || !strings.HasPrefix(st.Devices[0], "emu") || st.Best == nil || st.Best.ValAccuracy <= 0 {
		t.Fatalf("daemon --device emu: %d trained, devices %q, best %+v", st.TrainedTotal, st.Devices, st.Best)
	}
}
