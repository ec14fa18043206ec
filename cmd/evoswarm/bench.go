package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/evoswarm/evoswarm/train/kernels"
	"github.com/spf13/cobra"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure training speed and memory",
	}
	cmd.AddCommand(newBenchTrainCmd(), newBenchMemoryCmd(), newBenchAgreeCmd())
	return cmd
}

// benchTrainResult is what `bench train --json` prints.
type benchTrainResult struct {
	TrainImagesPerSecond float64 `json:"train_images_per_second"`
	EvalImagesPerSecond  float64 `json:"eval_images_per_second"`
	ValAccuracy          float64 `json:"val_accuracy"`
	Steps                int     `json:"steps"`
	BLAS                 string  `json:"blas"`
	Threads              int     `json:"threads"`
	PeakRSSMiB           float64 `json:"peak_rss_mib"`
	Genome               string  `json:"genome"`
	Device               string  `json:"device,omitempty"`
	Engine               string  `json:"engine"`
	ISA                  string  `json:"isa,omitempty"`
}

func newBenchTrainCmd() *cobra.Command {
	var (
		steps                              int
		jsonOut                            bool
		dataName, genomePath, out, profile string
		engine                             string
		threads                            int
		devSpec                            string
	)
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train the reference CNN and print images/s for training and evaluation",
		Long: `Train the reference CNN (conv 3x3 32 -> conv 3x3 64 stride 2 -> conv 3x3 64
stride 2, each with BN-ReLU, then global average pool and a fully connected
layer; batch 50) on Fashion-MNIST for --steps steps, then evaluate the
validation split with the forward-only graph. Prints training and
evaluation images/s, the validation accuracy, the BLAS in use and the peak
RSS. scripts/bench/train.sh runs this beside the PyTorch reference.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := dataset.Load(dataName, dataset.DefaultOptions())
			if err != nil {
				return err
			}
			g := train.ReferenceCNNFor(dna.Shape{H: data.H, W: data.W, C: data.C}, data.Classes)
			if genomePath != "" {
				f, err := os.Open(genomePath)
				if err != nil {
					return err
				}
				g, err = dna.DecodeJSON(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", genomePath, err)
				}
			}
			if out != "" {
				b, err := g.MarshalJSON()
				if err != nil {
					return err
				}
				if err := os.WriteFile(out, b, 0o644); err != nil {
					return err
				}
			}
			cfg := train.DefaultConfig()
			cfg.Steps = steps
			ctx := cmd.Context()
			if profile != "" {
				f, err := os.Create(profile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
			}
			cfg.Threads = threads // 0: GOMAXPROCS
			opt := train.RunOptions{Seed: 1, Engine: engine}
			if opt.Device, err = openOneDevice(devSpec, cmd.ErrOrStderr()); err != nil {
				return err
			}
			if opt.Device != nil {
				defer opt.Device.Close()
			}
			if !jsonOut && isTerminal(cmd.ErrOrStderr()) {
				opt.Progress = progressBar(cmd.ErrOrStderr(), steps)
			}
			res, err := train.Train(ctx, g, nil, data, cfg, opt)
			if profile != "" {
				pprof.StopCPUProfile()
			}
			if err != nil {
				return err
			}
			start := time.Now()
			if opt.Device != nil {
				_, err = train.EvaluateOn(ctx, g, res.Weights, data, data.Val, cfg, opt.Device)
			} else {
				_, err = train.Evaluate(ctx, g, res.Weights, data, data.Val, cfg)
			}
			if err != nil {
				return err
			}
			r := benchTrainResult{
				TrainImagesPerSecond: res.ImagesPerSecond,
				EvalImagesPerSecond:  float64(data.Val.N) / time.Since(start).Seconds(),
				ValAccuracy:          res.ValAccuracy,
				Steps:                res.Steps,
				BLAS:                 kernels.BLAS,
				Threads:              cfg.CPUThreads(),
				PeakRSSMiB:           peakRSSMiB(),
				Genome:               g.ID().Short(),
				Device:               res.Device,
				Engine:               res.Engine,
			}
			if r.Engine == train.EngineOneDNN {
				r.ISA = train.OneDNNISA()
			}
			if jsonOut {
				return printJSON(cmd.OutOrStdout(), r, false)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "genome %s, %d steps of batch %d, engine %s, BLAS %s, %d threads\n", r.Genome, r.Steps, cfg.BatchSize, r.Engine, r.BLAS, r.Threads)
			if r.Device != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "device %s\n", r.Device)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "training    %8.1f images/s\nevaluation  %8.1f images/s\nval accuracy %.4f\npeak RSS    %8.1f MiB\n",
				r.TrainImagesPerSecond, r.EvalImagesPerSecond, r.ValAccuracy, r.PeakRSSMiB)
			return nil
		},
	}
	cmd.Flags().IntVar(&steps, "steps", 200, "training steps to time")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object")
	cmd.Flags().StringVar(&dataName, "data", "fashion-mnist", "data set name or directory")
	cmd.Flags().StringVar(&genomePath, "genome", "", "benchmark this genome instead of the reference CNN")
	cmd.Flags().StringVar(&out, "genome-out", "", "write the benchmarked genome's JSON to this file")
	addDeviceFlag(cmd, &devSpec, "cpu")
	cmd.Flags().StringVar(&profile, "cpuprofile", "", "write a CPU profile of the training run (go tool pprof) to this file")
	cmd.Flags().StringVar(&engine, "engine", "", "CPU engine: gorgonia or onednn (default: onednn where the build has it)")
	cmd.Flags().IntVar(&threads, "threads", 0, "threads the CPU engine uses (default: GOMAXPROCS)")
	return cmd
}

func newBenchMemoryCmd() *cobra.Command {
	var cycles, steps, mutations int
	var dataName string
	cmd := &cobra.Command{
		Use:   "memory",
		Short: "Build, train and discard random genomes in one process, printing RSS per cycle",
		Long: `Each cycle mutates the initial genome N times at random (a fresh seed per
cycle), trains it for a few steps, evaluates it, and drops it; then the
process's RSS is printed. A flat column means no memory is leaked across
networks. The last line compares the last cycles with the first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := dataset.Load(dataName, dataset.DefaultOptions())
			if err != nil {
				return err
			}
			cfg := train.DefaultConfig()
			cfg.Steps = steps
			o := dna.DefaultMutateOptions()
			o.InsertMinChannels = 16
			o.Bounds.MaxParams = 300_000
			o.Bounds.MaxFLOPs = 60_000_000
			cfg.Bounds = o.Bounds
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "cycle  rss_mib  heap_mib  params  val_accuracy\n")
			var rss []float64
			for c := range cycles {
				rng := rand.New(rand.NewPCG(uint64(c), 99))
				g := dna.Initial(dna.Shape{H: data.H, W: data.W, C: data.C}, data.Classes, dna.PaperLearningRate)
				for range mutations {
					child, _, err := dna.Mutate(g, rng, o)
					if err != nil {
						return err
					}
					g = child
				}
				res, err := train.Train(context.Background(), g, nil, data, cfg, train.RunOptions{Seed: uint64(c)})
				if err != nil {
					return err
				}
				runtime.GC()
				debug.FreeOSMemory()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				r := currentRSSMiB()
				rss = append(rss, r)
				fmt.Fprintf(w, "%5d  %7.1f  %8.1f  %6d  %.4f\n", c+1, r, float64(ms.HeapAlloc)/(1<<20), g.Params(), res.ValAccuracy)
			}
			if len(rss) >= 4 {
				q := len(rss) / 4
				fmt.Fprintf(w, "mean RSS of the first %d cycles %.1f MiB, of the last %d %.1f MiB\n", q, mean(rss[:q]), q, mean(rss[len(rss)-q:]))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&cycles, "cycles", 20, "build-train-discard cycles")
	cmd.Flags().IntVar(&steps, "steps", 20, "training steps per cycle")
	cmd.Flags().IntVar(&mutations, "mutations", 30, "random mutations from the initial genome per cycle")
	cmd.Flags().StringVar(&dataName, "data", "fashion-mnist", "data set name or directory")
	return cmd
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// peakRSSMiB is the process's peak resident set size.
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

// currentRSSMiB reads VmRSS from /proc/self/status.
func currentRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
