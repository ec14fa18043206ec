package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// binary builds evoswarm once per test run.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "evoswarm-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "evoswarm")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = &buildError{out: string(out), err: err}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// run runs evoswarm with stdin and returns stdout, stderr and the exit code.
func run(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestDNAPipeline(t *testing.T) {
	g, _, code := run(t, nil, "dna", "init")
	if code != 0 {
		t.Fatalf("dna init exited %d", code)
	}
	mutated, log, code := run(t, []byte(g), "dna", "mutate", "--seed", "1", "--n", "500")
	if code != 0 {
		t.Fatalf("dna mutate exited %d: %s", code, log)
	}
	if n := strings.Count(log, "\n"); n != 500 {
		t.Errorf("dna mutate logged %d lines, want 500", n)
	}
	if _, errOut, code := run(t, []byte(mutated), "dna", "check"); code != 0 {
		t.Fatalf("dna check of a mutated genome exited %d: %s", code, errOut)
	}
	again, _, _ := run(t, []byte(g), "dna", "mutate", "--seed", "1", "--n", "500")
	if again != mutated {
		t.Error("the same seed gave a different genome")
	}
	show, _, code := run(t, []byte(mutated), "dna", "show")
	if code != 0 || !strings.Contains(show, "FLOPs per image") {
		t.Errorf("dna show exited %d with %q", code, show)
	}
	dot, _, code := run(t, []byte(mutated), "dna", "show", "--dot")
	if code != 0 || !strings.HasPrefix(dot, "digraph genome {") {
		t.Errorf("dna show --dot exited %d with %q", code, dot)
	}
}

func TestDNACheckRefuses(t *testing.T) {
	g, _, _ := run(t, nil, "dna", "init")
	for _, tc := range []struct{ name, in, want string }{
		{"truncated", g[:len(g)/2], "truncated JSON"},
		{"garbage", "\x00\x01garbage", "invalid JSON"},
		{"empty", "", "empty input"},
		{"one class", strings.Replace(g, `"classes": 10`, `"classes": 1`, 1), "1 classes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, []byte(tc.in), "dna", "check")
			if code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if out != "" || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q: want one line mentioning %q", errOut, tc.want)
			}
			if strings.Contains(errOut, "goroutine") {
				t.Errorf("stack trace on stderr: %q", errOut)
			}
		})
	}
}

func TestHelpOnEveryVerb(t *testing.T) {
	root := newRootCmd()
	for _, c := range root.Commands() {
		for _, sub := range append(c.Commands(), c) {
			path := strings.Fields(sub.CommandPath())[1:]
			out, _, code := run(t, nil, append(path, "--help")...)
			if code != 0 || !strings.Contains(out, "Usage:") {
				t.Errorf("%v --help: exit %d, output %q", path, code, out)
			}
		}
	}
}

// TestBadArgumentsFail: a mistyped subcommand and nonsense flag values are
// errors (exit status 1, a message naming the problem), not help with exit
// status 0, a hang or a panic; and a refused simulation leaves the --csv
// file it would have written as it was.
func TestBadArgumentsFail(t *testing.T) {
	keep := filepath.Join(t.TempDir(), "keep.csv")
	if err := os.WriteFile(keep, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(t.TempDir(), "repo")
	cases := [][]string{
		{"dna", "chek"},
		{"bench", "frob"},
		{"bootstrap", "lst"},
		{"frobnicate"},
		{"progress", "--repo", repo, "--every", "0"},
		{"progress", "--repo", repo, "--every", "-1"},
		{"predict", "--model", repo, "--top", "-3", "x.png"},
		{"simulate", "--nodes", "2", "--minutes", "-5", "--csv", keep},
		{"simulate", "--nodes", "2", "--minutes", "1", "--sample", "-5"},
		{"simulate", "--nodes", "2", "--minutes", "1", "--show", "-1"},
	}
	for _, args := range cases {
		out, errOut, code := run(t, nil, args...)
		if code != 1 || !strings.Contains(errOut, "evoswarm: ") || strings.Contains(errOut, "panic") {
			t.Errorf("evoswarm %s: exit %d\nstdout: %.200s\nstderr: %.300s", strings.Join(args, " "), code, out, errOut)
		}
	}
	if b, _ := os.ReadFile(keep); string(b) != "precious\n" {
		t.Errorf("a refused simulate --csv changed the file: %q", b)
	}
}
