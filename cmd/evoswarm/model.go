package main

import (
	"fmt"
	"io"

	"github.com/evoswarm/evoswarm/node"
	"github.com/spf13/cobra"
)

func newExportCmd() *cobra.Command {
	var repo, out string
	var top int
	cmd := &cobra.Command{
		Use:   "export --repo DIR --out DIR [--top K]",
		Short: "Write the best K live individuals of a stopped node as usable models",
		Long: `Write the best K live individuals (by validation accuracy) of a stopped
node, each into OUT/NN-ID/: genome.json, weights.evwt, model.onnx (ONNX,
opset 13, input "images" NCHW, output "logits"), and metrics.json with
the data set's identity, normalisation and class names, the validation
accuracy, the test accuracy (measured now: the test split is used only here
and in reports, never for fitness), parameters, FLOPs and lineage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if top < 1 {
				return fmt.Errorf("--top %d: want at least 1", top)
			}
			r, err := node.OpenStoppedRepo(repo)
			if err != nil {
				return err
			}
			defer r.Close()
			errw := cmd.ErrOrStderr()
			return r.ExportBest(cmd.Context(), out, top, func(i, n int) {
				if isTerminal(errw) {
					fmt.Fprintf(errw, "\rexporting %d/%d: measuring test accuracy...", i, n)
				}
			}, func(e node.Exported) { printExported(cmd, e) })
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().StringVar(&out, "out", "models", "directory to write the models into")
	cmd.Flags().IntVar(&top, "top", 1, "how many of the best live individuals to export")
	return cmd
}

// printExported says where an individual went, clearing export's
// progress line on a terminal.
func printExported(cmd *cobra.Command, e node.Exported) {
	if isTerminal(cmd.ErrOrStderr()) {
		fmt.Fprint(cmd.ErrOrStderr(), "\r\033[K")
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s  val %.4f  test %.4f  %d params  -> %s\n", e.ID.Short(), e.ValAccuracy, e.TestAccuracy, e.Params, e.Dir)
}

func newEvalCmd() *cobra.Command {
	var modelDir, dataName string
	var ensemble []string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "eval --model DIR [--ensemble DIR...] [--data NAME]",
		Short: "Test accuracy and confusion matrix of an exported model, or of an ensemble's majority vote",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			errw := cmd.ErrOrStderr()
			res, err := node.Eval(cmd.Context(), append([]string{modelDir}, ensemble...), dataName, func(i, n, images int) {
				if isTerminal(errw) {
					fmt.Fprintf(errw, "\revaluating model %d/%d on %d test images...", i, n, images)
				}
			})
			if err != nil {
				return err
			}
			if isTerminal(errw) {
				fmt.Fprintln(errw)
			}
			return output(cmd, jsonOut, res, func(w io.Writer) { printEval(w, res) })
		},
	}
	cmd.Flags().StringVar(&modelDir, "model", "", "exported model directory (required)")
	cmd.Flags().StringSliceVar(&ensemble, "ensemble", nil, "more model directories: the models vote, as the paper's ensemble")
	cmd.Flags().StringVar(&dataName, "data", "", "data set (default: the model's)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

func printEval(w io.Writer, r *node.EvalResult) {
	fmt.Fprintf(w, "%d model(s), %d test images: test accuracy %.4f\n", len(r.Models), r.Images, r.TestAccuracy)
	fmt.Fprintf(w, "confusion matrix (rows: true class, columns: predicted)\n%14s", "")
	for c := range r.Confusion {
		fmt.Fprintf(w, "%6d", c)
	}
	fmt.Fprintln(w)
	for y, row := range r.Confusion {
		label := fmt.Sprint(y)
		if y < len(r.ClassNames) {
			label = fmt.Sprintf("%d %s", y, r.ClassNames[y])
		}
		fmt.Fprintf(w, "%-14.14s", label)
		for _, n := range row {
			fmt.Fprintf(w, "%6d", n)
		}
		fmt.Fprintln(w)
	}
}

func newPredictCmd() *cobra.Command {
	var modelDir string
	var topK int
	cmd := &cobra.Command{
		Use:   "predict --model DIR IMAGE...",
		Short: "Print the top classes an exported model predicts for image files (PNG or JPEG)",
		Long: `Each image is converted to the model's input: grey or RGB as the model
expects, scaled to its height and width by nearest neighbour, and
normalised with the statistics the model was trained with.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if topK < 1 {
				return fmt.Errorf("--top %d: want at least 1", topK)
			}
			c, err := node.OpenClassifier(modelDir)
			if err != nil {
				return err
			}
			defer c.Close()
			for _, path := range args {
				classes, err := c.Classify(path, topK)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s:", path)
				for _, k := range classes {
					fmt.Fprintf(cmd.OutOrStdout(), "  %s %.1f%%", k.Name, 100*k.P)
				}
				fmt.Fprintln(cmd.OutOrStdout())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&modelDir, "model", "", "exported model directory (required)")
	cmd.Flags().IntVar(&topK, "top", 3, "how many classes to print per image")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}
