package main

import (
	"fmt"
	"os"

	"github.com/evoswarm/evoswarm/internal/testnet"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/spf13/cobra"
)

// agreeResult is what `bench agree --json` prints.
type agreeResult struct {
	Device  string             `json:"device"`
	Steps   int                `json:"steps"`
	Genomes []*train.Agreement `json:"genomes"`
	Pass    bool               `json:"pass"`
}

func newBenchAgreeCmd() *cobra.Command {
	var (
		steps, mutations   int
		dataName, devSpec  string
		genomes            []string
		logitsTol, lossTol float64
		jsonOut            bool
	)
	cmd := &cobra.Command{
		Use:   "agree",
		Short: "Check that a GPU trains a genome as the CPU does (same weights, logits, losses)",
		Long: `For each genome, build the network on the CPU and on --device from the same
initial weights, check that the device holds them bit for bit, compare the
inference logits on a validation batch, then train both for --steps SGD
steps on the same batches and compare every step's loss. Fails unless the
logits agree within --logits-tol and every loss within --loss-tol.

The genomes are the reference CNN and two evolved-looking genomes grown from
the initial one (seeds 1 and 2: convolutions inserted until there are 4
and 6, skips added until there are 2 and 3, then --mutations random
mutations), plus any given with --genome.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := dataset.Load(dataName, dataset.DefaultOptions())
			if err != nil {
				return err
			}
			dev, err := openOneDevice(devSpec, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if dev == nil {
				return fmt.Errorf("--device %s: no GPU to compare with the CPU", devSpec)
			}
			defer dev.Close()
			in := dna.Shape{H: data.H, W: data.W, C: data.C}
			gs := []*dna.Genome{train.ReferenceCNNFor(in, data.Classes)}
			o := dna.DefaultMutateOptions()
			o.InsertMinChannels = 16
			o.Bounds.MaxParams = 300_000
			o.Bounds.MaxFLOPs = 60_000_000
			for seed := range uint64(2) {
				g, err := testnet.Evolved(in, data.Classes, seed+1, 4+2*int(seed), 2+int(seed), mutations, o)
				if err != nil {
					return err
				}
				gs = append(gs, g)
			}
			for _, p := range genomes {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				g, err := dna.DecodeJSON(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				gs = append(gs, g)
			}
			cfg := train.DefaultConfig()
			cfg.Bounds = o.Bounds
			end, err := dev.Begin()
			if err != nil {
				return err
			}
			defer end()
			res := agreeResult{Device: dev.Name(), Steps: steps, Pass: true}
			w := cmd.OutOrStdout()
			if !jsonOut {
				fmt.Fprintf(w, "device %s, %d steps of batch %d\n", res.Device, steps, cfg.BatchSize)
				fmt.Fprintf(w, "genome    params  vertices  edges  init_weights  logits_diff  loss_max_diff  final_loss cpu/device  final_logits_diff  weights_diff  verdict\n")
			}
			var failures []error
			for _, g := range gs {
				a, err := train.CompareDevice(g, data, cfg, dev, steps, 1)
				if err != nil {
					return fmt.Errorf("genome %s: %w", g.ID().Short(), err)
				}
				res.Genomes = append(res.Genomes, a)
				verdict := "ok"
				if err := a.Check(logitsTol, lossTol); err != nil {
					verdict, res.Pass = "FAIL", false
					failures = append(failures, err)
				}
				if !jsonOut {
					same := "same"
					if !a.SameInitialWeights {
						same = "DIFFERENT"
					}
					last := len(a.LossCPU) - 1
					var lc, ld float64
					if last >= 0 {
						lc, ld = a.LossCPU[last], a.LossDevice[last]
					}
					fmt.Fprintf(w, "%-8s  %6d  %8d  %5d  %12s  %11.2e  %13.2e  %10.4f/%.4f  %17.2e  %12.2e  %s\n",
						a.Genome, a.Params, len(g.Vertices), len(g.Edges), same, a.LogitsMaxDiff, a.LossMaxDiff, lc, ld, a.FinalLogitsMaxDiff, a.WeightsMaxDiff, verdict)
				}
			}
			if jsonOut {
				if err := printJSON(w, res, false); err != nil {
					return err
				}
			}
			if len(failures) > 0 {
				return fmt.Errorf("the device disagrees with the CPU: %v", failures)
			}
			if !jsonOut {
				fmt.Fprintf(w, "agreement: PASS (logits within %g, losses within %g)\n", logitsTol, lossTol)
			}
			return nil
		},
	}
	addDeviceFlag(cmd, &devSpec, "cuda")
	cmd.Flags().IntVar(&steps, "steps", 50, "SGD steps to compare")
	cmd.Flags().IntVar(&mutations, "mutations", 10, "random mutations after the structure of each grown genome")
	cmd.Flags().StringVar(&dataName, "data", "fashion-mnist", "data set name or directory")
	cmd.Flags().StringArrayVar(&genomes, "genome", nil, "also compare this genome JSON file (repeatable)")
	cmd.Flags().Float64Var(&logitsTol, "logits-tol", 1e-3, "largest allowed difference of an initial logit")
	cmd.Flags().Float64Var(&lossTol, "loss-tol", 1e-2, "largest allowed difference of a step's loss")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object")
	return cmd
}
