package store

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
)

const crashDirEnv = "EVOSWARM_STORE_CRASH_DIR"

// TestHelperProcess is not a test: TestCrashSafety runs the test binary
// again with crashDirEnv set, and this function then writes individuals to
// the store in that directory until it is killed. It prints a line after
// each commit: "ins ID", "kill ID", "train ID".
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	s, err := Open(dir, Options{MinFreeBytes: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
	out := bufio.NewWriter(os.Stdout)
	say := func(verb string, id dna.ID) {
		fmt.Fprintln(out, verb, id)
		out.Flush()
	}
	for i := 0; ; i++ {
		var alive []Member
		if err := s.View(func(tx *Tx) error { alive, err = tx.Alive(); return err }); err != nil {
			fmt.Fprintln(os.Stderr, "alive:", err)
			os.Exit(2)
		}
		child := &Individual{
			ID:         dna.ID(sha256.Sum256(binary.LittleEndian.AppendUint64([]byte(fmt.Sprint(os.Getpid(), i)), rng.Uint64()))),
			Genome:     []byte("genome"),
			Fitness:    rng.Float64(),
			Born:       time.Now(),
			Mutation:   "identity",
			TrainFLOPs: int64(rng.IntN(1000)),
		}
		var killed dna.ID
		err := s.Update(func(tx *Tx) error {
			if len(alive) >= 2 {
				a, b := alive[rng.IntN(len(alive))], alive[rng.IntN(len(alive))]
				if a.ID == b.ID {
					return nil
				}
				if a.Fitness > b.Fitness {
					a, b = b, a
				}
				if len(alive) >= 15 {
					if err := tx.Kill(a.ID, "lost", time.Now()); err != nil {
						return err
					}
					killed = a.ID
				}
				p, _, err := tx.Reserve(b.ID)
				if err != nil {
					return err
				}
				child.Parent = p.ID
			}
			if rng.IntN(4) == 0 {
				return tx.StartTraining(child)
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "update:", err)
			os.Exit(2)
		}
		if !killed.IsZero() {
			say("kill", killed)
		}
		if child.Status == StatusTraining {
			say("train", child.ID)
		}
		weights := make([]byte, 20<<10+rng.IntN(20<<10)) // some inline, most in the value log
		for j := range weights {
			weights[j] = byte(rng.Uint32())
		}
		weights = Seal(weights)
		if err := s.Update(func(tx *Tx) error { return tx.Insert(child, weights) }); err != nil {
			fmt.Fprintln(os.Stderr, "insert:", err)
			os.Exit(2)
		}
		say("ins", child.ID)
	}
}

// TestCrashSafety kills a writing process with SIGKILL at random moments
// and checks after each kill that every acknowledged commit survived, that
// nothing was duplicated, and that the counters match the records.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	inserted := map[dna.ID]bool{}
	killed := map[dna.ID]bool{}
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan []string)
		go func() {
			var ls []string
			sc := bufio.NewScanner(stdout)
			sc.Split(scanCompleteLines)
			for sc.Scan() {
				ls = append(ls, sc.Text())
			}
			lines <- ls
		}()
		time.Sleep(time.Duration(100+rng.IntN(1400)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		acked := <-lines
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child ended by itself (%v): %s", round, err, stderr.String())
		}
		var nIns, nKill, nTrain int
		for _, l := range acked {
			verb, hex, _ := strings.Cut(l, " ")
			id, err := dna.ParseID(hex)
			if err != nil {
				t.Fatalf("round %d: child printed %q: %v", round, l, err)
			}
			switch verb {
			case "ins":
				if inserted[id] {
					t.Errorf("round %d: %s inserted twice", round, id.Short())
				}
				inserted[id] = true
				nIns++
			case "kill":
				killed[id] = true
				nKill++
			case "train":
				nTrain++
			}
		}

		s, err := Open(dir, Options{MinFreeBytes: -1})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if err := s.Verify(); err != nil {
			t.Errorf("round %d: Verify after SIGKILL: %v", round, err)
		}
		births := map[dna.ID]int{}
		err = s.View(func(tx *Tx) error {
			for id := range inserted {
				ind, err := tx.Get(id)
				if err != nil {
					t.Errorf("round %d: acknowledged individual %s: %v", round, id.Short(), err)
					continue
				}
				if ind.BirthSeq == 0 {
					t.Errorf("round %d: acknowledged individual %s is %v, never born", round, id.Short(), ind.Status)
				}
				if want := killed[id]; want && ind.Status != StatusDead {
					t.Errorf("round %d: acknowledged kill of %s, but it is %v", round, id.Short(), ind.Status)
				}
			}
			return tx.Events(1, func(ev Event) error {
				if ev.Type == EventBirth {
					births[ev.ID]++
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		for id, n := range births {
			if n != 1 {
				t.Errorf("round %d: %s has %d birth events", round, id.Short(), n)
			}
		}
		c, _ := s.Counters()
		if c.Births < uint64(len(inserted)) {
			t.Errorf("round %d: %d births counted, %d acknowledged", round, c.Births, len(inserted))
		}
		abandoned, err := s.AbandonTraining("interrupted by a restart", time.Now())
		if err != nil {
			t.Fatalf("round %d: AbandonTraining: %v", round, err)
		}
		verify(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: acknowledged %d inserts, %d kills, %d trainings; %d births in all; %d trainings abandoned",
			round, nIns, nKill, nTrain, c.Births, abandoned)
	}
	if len(inserted) == 0 {
		t.Errorf("no insert was acknowledged in 5 rounds")
	}
}

// scanCompleteLines is bufio.ScanLines without the final, unterminated
// line: a line the child was writing when it was killed is not an
// acknowledgement.
func scanCompleteLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		if b == '\n' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF {
		return len(data), nil, nil
	}
	return 0, nil, nil
}
