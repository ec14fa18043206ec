package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/spf13/cobra"
)

func newDNACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dna",
		Short: "Create, mutate, check and show genomes (the paper's DNA)",
		Long: `Genomes travel as JSON on standard input and output, so the verbs compose:

  evoswarm dna init | evoswarm dna mutate --seed 1 --n 500 | evoswarm dna show`,
	}
	cmd.AddCommand(newDNAInitCmd(), newDNAMutateCmd(), newDNACheckCmd(), newDNAShowCmd())
	return cmd
}

func newDNAInitCmd() *cobra.Command {
	var input string
	var classes int
	var lr float64
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Print the paper's initial individual as JSON",
		Long:  "Print the paper's initial individual (input -> global average pool -> fully connected -> softmax, no convolutions) as JSON.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			shape, err := dna.ParseShape(input)
			if err != nil {
				return err
			}
			g := dna.Initial(shape, classes, lr)
			if err := g.Validate(dna.DefaultBounds()); err != nil {
				return err
			}
			return writeGenome(cmd.OutOrStdout(), g)
		},
	}
	cmd.Flags().StringVar(&input, "input", "28x28x1", "input shape, HxWxC")
	cmd.Flags().IntVar(&classes, "classes", 10, "number of classes")
	cmd.Flags().Float64Var(&lr, "lr", dna.PaperLearningRate, "learning rate")
	return cmd
}

func newDNAMutateCmd() *cobra.Command {
	var seed uint64
	var n, minCh int
	cmd := &cobra.Command{
		Use:   "mutate",
		Short: "Apply N random mutations to the genome on stdin",
		Long: `Read a genome as JSON on stdin, apply N mutations drawn uniformly from the
paper's eleven (retrying those that do not apply or would leave the default
resource bounds), and print the result as JSON. One line per applied
mutation goes to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := readGenome(cmd.InOrStdin())
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			o := dna.DefaultMutateOptions()
			o.InsertMinChannels = minCh
			if err := o.Validate(); err != nil {
				return err
			}
			if n < 0 {
				return fmt.Errorf("--n %d: want 0 or more mutations", n)
			}
			if err := g.Validate(o.Bounds); err != nil {
				return &exitError{code: 1, err: err}
			}
			rng := rand.New(rand.NewPCG(seed, 0))
			log := bufio.NewWriter(cmd.ErrOrStderr())
			defer log.Flush()
			for i := range n {
				child, ch, err := dna.Mutate(g, rng, o)
				if err != nil {
					return err
				}
				fmt.Fprintf(log, "%d\t%s\t%s\n", i+1, ch.Kind, ch.Detail)
				g = child
			}
			return writeGenome(cmd.OutOrStdout(), g)
		},
	}
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed; the same seed and input give the same output")
	cmd.Flags().IntVar(&n, "n", 1, "number of mutations")
	cmd.Flags().IntVar(&minCh, "insert-min-channels", 0, "floor on the channels of an inserted convolution (0: the paper's rule, keep the input's)")
	return cmd
}

func newDNACheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Validate the genome on stdin; exit 1 with the reason if it is invalid",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := readGenome(cmd.InOrStdin())
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if err := g.Validate(dna.DefaultBounds()); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
}

func newDNAShowCmd() *cobra.Command {
	var dot bool
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Summarise the genome on stdin, or draw it as Graphviz DOT",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := readGenome(cmd.InOrStdin())
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if dot {
				return g.WriteDOT(cmd.OutOrStdout())
			}
			return g.WriteSummary(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&dot, "dot", false, "print Graphviz DOT instead of a summary")
	return cmd
}

func readGenome(r io.Reader) (*dna.Genome, error) {
	return dna.DecodeJSON(r)
}

func writeGenome(w io.Writer, g *dna.Genome) error {
	b, err := g.MarshalJSON()
	if err != nil {
		return err
	}
	var out json.RawMessage = b
	pretty, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", pretty)
	return err
}
