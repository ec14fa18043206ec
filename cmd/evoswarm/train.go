package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newTrainCmd() *cobra.Command {
	var (
		dataName, genomePath, weightsPath, outDir, devSpec, engine string
		inheritance                                                string
		steps                                                      int
		seed                                                       uint64
		jsonOut, test                                              bool
	)
	cmd := &cobra.Command{
		Use:   "train --data NAME --genome FILE --steps N",
		Short: "Train and evaluate one genome on a data set",
		Long: `Build the genome's network, train it with SGD (momentum 0.9, batch 50,
weight decay 1e-4, the genome's learning rate) and evaluate it on the
held-out validation split and the test split. With --weights, every tensor
whose weight ID and shape match is inherited, as a child inherits from its
parent; with --inheritance partial, a tensor whose shape changed also keeps
the overlap with its parent's (see docs/training.md). Ends with one JSON
object on stdout, which counts the values inherited whole
(inherited_params), sliced (sliced_params) and new (new_params).

--data is fashion-mnist, mnist, cifar10, cifar100 or a directory; named sets
are looked up in $EVOSWARM_DATA, the user's cache directory, then
/usr/share/datasets (see scripts/fetch-data.sh).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := os.Open(genomePath)
			if err != nil {
				return err
			}
			g, err := dna.DecodeJSON(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", genomePath, err)
			}
			var parent *train.Weights
			if weightsPath != "" {
				b, err := os.ReadFile(weightsPath)
				if err != nil {
					return err
				}
				if parent, err = train.DecodeWeights(b, 1<<30); err != nil {
					return fmt.Errorf("%s: %w", weightsPath, err)
				}
			}
			data, err := dataset.Load(dataName, dataset.DefaultOptions())
			if err != nil {
				return err
			}
			cfg := train.DefaultConfig()
			cfg.Steps = steps
			cfg.Inheritance = inheritance
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			opt := train.RunOptions{Seed: seed, Test: test, Engine: engine}
			if opt.Device, err = openOneDevice(devSpec, cmd.ErrOrStderr()); err != nil {
				return err
			}
			if opt.Device != nil {
				defer opt.Device.Close()
			}
			if !jsonOut && isTerminal(cmd.ErrOrStderr()) {
				opt.Progress = progressBar(cmd.ErrOrStderr(), steps)
			}
			res, err := train.Train(ctx, g, parent, data, cfg, opt)
			if err != nil {
				return err
			}
			if outDir != "" {
				if err := writeTrained(outDir, g, res); err != nil {
					return err
				}
			}
			return printJSON(cmd.OutOrStdout(), res, !jsonOut)
		},
	}
	cmd.Flags().StringVar(&dataName, "data", "fashion-mnist", "data set name or directory")
	cmd.Flags().StringVar(&genomePath, "genome", "", "genome JSON file (required)")
	cmd.Flags().StringVar(&weightsPath, "weights", "", "parent weights to inherit from")
	cmd.Flags().StringVar(&inheritance, "inheritance", train.InheritExact, "with --weights: exact (the paper: tensors whose weight ID and shape match) or partial (also the overlap of a reshaped tensor)")
	cmd.Flags().IntVar(&steps, "steps", 1000, "SGD steps")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed for initialisation, batch order and augmentation")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "compact JSON, no progress display")
	cmd.Flags().BoolVar(&test, "test", true, "also report test accuracy")
	cmd.Flags().StringVar(&engine, "engine", "", "CPU engine: gorgonia or onednn (default: onednn where the build has it)")
	addDeviceFlag(cmd, &devSpec, "cpu")
	cmd.Flags().StringVar(&outDir, "out", "", "write genome.json, weights.evwt and result.json to this directory")
	_ = cmd.MarkFlagRequired("genome")
	return cmd
}

// writeTrained saves a trained network: its genome, its weights and the result.
func writeTrained(dir string, g *dna.Genome, res *train.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gj, err := g.MarshalJSON()
	if err != nil {
		return err
	}
	wb, err := res.Weights.MarshalBinary()
	if err != nil {
		return err
	}
	rj, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{"genome.json": gj, "weights.evwt": wb, "result.json": rj} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func printJSON(w io.Writer, v any, indent bool) error {
	var b []byte
	var err error
	if indent {
		b, err = json.MarshalIndent(v, "", "  ")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar returns a Progress callback that redraws one line on a terminal.
func progressBar(w io.Writer, total int) func(int, float64) {
	start := time.Now()
	last := time.Time{}
	return func(step int, loss float64) {
		if now := time.Now(); step != total && now.Sub(last) < 200*time.Millisecond {
			return
		} else {
			last = now
		}
		const width = 30
		done := width * step / max(total, 1)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = '.'
			if i < done {
				bar[i] = '='
			}
		}
		rate := float64(step) / time.Since(start).Seconds()
		fmt.Fprintf(w, "\r[%s] step %d/%d  loss %.4f  %.1f steps/s ", bar, step, total, loss, rate)
		if step == total {
			fmt.Fprintln(w)
		}
	}
}
