package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// searchEnv points every place Resolve looks at fresh temporary
// directories and returns them: $EVOSWARM_DATA, the cache root (so
// evoswarm/ below it), the system directory.
func searchEnv(t *testing.T) (env, cache, system string) {
	t.Helper()
	env, cache, system = t.TempDir(), t.TempDir(), t.TempDir()
	t.Setenv(EnvDataDir, env)
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", t.TempDir())
	old := systemDataDir
	systemDataDir = system
	t.Cleanup(func() { systemDataDir = old })
	return env, cache, system
}

func TestResolveOrder(t *testing.T) {
	env, cache, system := searchEnv(t)
	spec := idxSpec{nTrain: 10, nTest: 2, h: 2, w: 2, gz: true}
	writeIDXSet(t, filepath.Join(system, "mnist"), spec)
	// An empty directory on the way does not hide the next place.
	os.MkdirAll(filepath.Join(env, "mnist"), 0o755)
	if got, err := Resolve("mnist"); err != nil || got != filepath.Join(system, "mnist") {
		t.Errorf("Resolve(mnist) = %q, %v; want the system directory", got, err)
	}
	writeIDXSet(t, filepath.Join(cache, "evoswarm", "mnist"), spec)
	if got, err := Resolve("mnist"); err != nil || got != filepath.Join(cache, "evoswarm", "mnist") {
		t.Errorf("Resolve(mnist) = %q, %v; want the cache directory", got, err)
	}
	writeIDXSet(t, filepath.Join(env, "mnist"), spec)
	if got, err := Resolve("mnist"); err != nil || got != filepath.Join(env, "mnist") {
		t.Errorf("Resolve(mnist) = %q, %v; want $%s/mnist", got, err, EnvDataDir)
	}
	s, err := Load("mnist", DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "mnist" || s.Train.N != 9 || s.Val.N != 1 {
		t.Errorf("Load(mnist): Name %q, Train.N %d, Val.N %d", s.Name, s.Train.N, s.Val.N)
	}

	// CIFAR sets are found in the archive's subfolder, and a named set must
	// have its own format: IDX files under cifar10/ do not count.
	writeIDXSet(t, filepath.Join(env, "cifar10"), spec)
	writeCIFARSet(t, filepath.Join(cache, "evoswarm", "cifar10", "cifar-10-batches-bin"), cifar10Format, 2, 2)
	if got, err := Resolve("cifar10"); err != nil || got != filepath.Join(cache, "evoswarm", "cifar10", "cifar-10-batches-bin") {
		t.Errorf("Resolve(cifar10) = %q, %v; want the cache's cifar-10-batches-bin", got, err)
	}
}

func TestResolveNotFound(t *testing.T) {
	env, cache, system := searchEnv(t)
	_, err := Resolve("cifar100")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Resolve(cifar100) = %v, want ErrNotFound", err)
	}
	msg := err.Error()
	for _, want := range []string{
		filepath.Join(env, "cifar100"), filepath.Join(cache, "evoswarm", "cifar100"),
		filepath.Join(system, "cifar100"), "scripts/fetch-data.sh cifar100",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if _, err := Load("cifar100", DefaultOptions()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load(cifar100) = %v, want ErrNotFound", err)
	}

	for _, tc := range []struct{ name, path, says string }{
		{"no such path", filepath.Join(env, "nowhere"), "neither a known data set"},
		{"a file", writeFile(t, env, "file.bin", []byte("x")), "not a directory"},
		{"empty directory", t.TempDir(), "no data set files"},
	} {
		_, err := Load(tc.path, DefaultOptions())
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tc.says) || !strings.HasPrefix(err.Error(), "dataset: ") {
			t.Errorf("%s: Load(%q) = %v; want ErrNotFound saying %q", tc.name, tc.path, err, tc.says)
		}
	}
}

func TestSearchPath(t *testing.T) {
	_, cache, system := searchEnv(t)
	t.Setenv(EnvDataDir, "")
	got := SearchPath("mnist")
	want := []string{filepath.Join(cache, "evoswarm", "mnist"), filepath.Join(system, "mnist")}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("SearchPath without $%s = %v, want %v", EnvDataDir, got, want)
	}
}
