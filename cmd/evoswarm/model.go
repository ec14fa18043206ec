package main

import (
	"cmp"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/evoswarm/evoswarm/internal/model"
	"github.com/evoswarm/evoswarm/internal/onnx"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/node"
	"github.com/evoswarm/evoswarm/store"
	"github.com/evoswarm/evoswarm/train"
	"github.com/evoswarm/evoswarm/train/dataset"
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
			exp, err := node.LoadRepoExperiment(repo)
			if err != nil {
				return err
			}
			st, err := node.OpenStopped(repo)
			if err != nil {
				return err
			}
			defer st.Close()
			data, err := dataset.Load(exp.Data, exp.DatasetOptions())
			if err != nil {
				return err
			}
			var alive []store.Member
			if err := st.View(func(tx *store.Tx) error {
				alive, err = tx.Alive()
				return err
			}); err != nil {
				return err
			}
			if len(alive) == 0 {
				return errors.New("the population is empty: nothing to export")
			}
			slices.SortFunc(alive, func(a, b store.Member) int { return cmp.Compare(b.Fitness, a.Fitness) })
			chosen := alive[:min(top, len(alive))]
			for rank, m := range chosen {
				if isTerminal(cmd.ErrOrStderr()) {
					fmt.Fprintf(cmd.ErrOrStderr(), "\rexporting %d/%d: measuring test accuracy...", rank+1, len(chosen))
				}
				dir := filepath.Join(out, fmt.Sprintf("%02d-%s", rank+1, m.ID.Short()))
				if err := exportOne(cmd, st, exp, data, m.ID, dir); err != nil {
					return err
				}
			}
			return nil
		},
	}
	repoFlag(cmd, &repo)
	cmd.Flags().StringVar(&out, "out", "models", "directory to write the models into")
	cmd.Flags().IntVar(&top, "top", 1, "how many of the best live individuals to export")
	return cmd
}

func exportOne(cmd *cobra.Command, st *store.Store, exp *node.Experiment, data *dataset.Set, id dna.ID, dir string) error {
	var rec *store.Individual
	var wb []byte
	if err := st.View(func(tx *store.Tx) error {
		var err error
		if rec, err = tx.Get(id); err != nil {
			return err
		}
		wb, err = tx.Weights(id)
		return err
	}); err != nil {
		return err
	}
	g, err := dna.DecodeBinary(rec.Genome)
	if err != nil {
		return err
	}
	w, err := train.DecodeWeights(wb, 1<<31-1)
	if err != nil {
		return err
	}
	test, err := train.Evaluate(cmd.Context(), g, w, data, data.Test, exp.Train)
	if err != nil {
		return err
	}
	lineage, err := node.Lineage(st, id)
	if err != nil {
		return err
	}
	m := model.Metrics{
		ID: id.String(), Data: exp.Data, DataIdentity: data.Identity, Mean: data.Mean, Std: data.Std,
		ClassNames: model.ClassNames(exp.Data, g.Classes), ValAccuracy: rec.Fitness, TestAccuracy: test,
		Params: g.Params(), FLOPs: g.FLOPs(), BNEpsilon: exp.Train.BNEpsilon,
	}
	for _, a := range lineage {
		m.Lineage = append(m.Lineage, model.Step{ID: a.ID, Mutation: a.Mutation, ValAccuracy: a.Fitness})
	}
	if err := model.Save(dir, g, wb, m); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, model.ONNXFile))
	if err != nil {
		return err
	}
	if err := onnx.Write(f, g, w, exp.Train.BNEpsilon); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", filepath.Join(dir, model.ONNXFile), err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if isTerminal(cmd.ErrOrStderr()) {
		fmt.Fprint(cmd.ErrOrStderr(), "\r\033[K")
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s  val %.4f  test %.4f  %d params  -> %s\n", id.Short(), rec.Fitness, test, m.Params, dir)
	return nil
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
			dirs := append([]string{modelDir}, ensemble...)
			var models []*model.Model
			for _, d := range dirs {
				m, err := model.Load(d)
				if err != nil {
					return err
				}
				models = append(models, m)
			}
			name := dataName
			if name == "" {
				name = models[0].Metrics.Data
			}
			data, err := dataset.Load(name, dataset.DefaultOptions())
			if err != nil {
				return err
			}
			cfg := train.DefaultConfig()
			votes := make([][]int, data.Test.N)
			for i := range votes {
				votes[i] = make([]int, data.Classes)
			}
			for i, m := range models {
				if isTerminal(cmd.ErrOrStderr()) {
					fmt.Fprintf(cmd.ErrOrStderr(), "\revaluating model %d/%d on %d test images...", i+1, len(models), data.Test.N)
				}
				data.Mean, data.Std = m.Metrics.Mean, m.Metrics.Std
				cfg.BNEpsilon = m.Metrics.BNEpsilon
				pred, err := train.Predict(cmd.Context(), m.Genome, m.Weights, data, data.Test, cfg)
				if err != nil {
					return fmt.Errorf("%s: %w", m.Dir, err)
				}
				for i, p := range pred {
					votes[i][p]++
				}
			}
			if isTerminal(cmd.ErrOrStderr()) {
				fmt.Fprintln(cmd.ErrOrStderr())
			}
			res := evalResult{Models: dirs, Images: data.Test.N, Confusion: make([][]int, data.Classes)}
			for i := range res.Confusion {
				res.Confusion[i] = make([]int, data.Classes)
			}
			correct := 0
			for i, v := range votes {
				p := 0 // majority vote; ties go to the lower class
				for c := range v {
					if v[c] > v[p] {
						p = c
					}
				}
				y := int(data.Test.Labels[i])
				res.Confusion[y][p]++
				if p == y {
					correct++
				}
			}
			res.TestAccuracy = float64(correct) / float64(max(data.Test.N, 1))
			if jsonOut {
				return printJSON(cmd.OutOrStdout(), res, false)
			}
			printEval(cmd.OutOrStdout(), res, models[0].Metrics.ClassNames)
			return nil
		},
	}
	cmd.Flags().StringVar(&modelDir, "model", "", "exported model directory (required)")
	cmd.Flags().StringSliceVar(&ensemble, "ensemble", nil, "more model directories: the models vote, as the paper's ensemble")
	cmd.Flags().StringVar(&dataName, "data", "", "data set (default: the model's)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

type evalResult struct {
	Models       []string `json:"models"`
	Images       int      `json:"images"`
	TestAccuracy float64  `json:"test_accuracy"`
	Confusion    [][]int  `json:"confusion"` // [true class][predicted class]
}

func printEval(w io.Writer, r evalResult, names []string) {
	fmt.Fprintf(w, "%d model(s), %d test images: test accuracy %.4f\n", len(r.Models), r.Images, r.TestAccuracy)
	fmt.Fprintf(w, "confusion matrix (rows: true class, columns: predicted)\n%14s", "")
	for c := range r.Confusion {
		fmt.Fprintf(w, "%6d", c)
	}
	fmt.Fprintln(w)
	for y, row := range r.Confusion {
		label := fmt.Sprint(y)
		if y < len(names) {
			label = fmt.Sprintf("%d %s", y, names[y])
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
			m, err := model.Load(modelDir)
			if err != nil {
				return err
			}
			in := m.Genome.Input
			cfg := train.DefaultConfig()
			cfg.BNEpsilon = m.Metrics.BNEpsilon
			net, err := train.NewNetwork(m.Genome, m.Weights, cfg)
			if err != nil {
				return err
			}
			defer net.Close()
			for _, path := range args {
				x, err := loadImage(path, in, m.Metrics.Mean, m.Metrics.Std)
				if err != nil {
					return err
				}
				logits, err := net.Logits(x, 1)
				if err != nil {
					return err
				}
				probs := softmax(logits)
				order := make([]int, len(probs))
				for i := range order {
					order[i] = i
				}
				slices.SortFunc(order, func(a, b int) int { return cmp.Compare(probs[b], probs[a]) })
				fmt.Fprintf(cmd.OutOrStdout(), "%s:", path)
				for _, c := range order[:min(topK, len(order))] {
					name := fmt.Sprint(c)
					if c < len(m.Metrics.ClassNames) {
						name = m.Metrics.ClassNames[c]
					}
					fmt.Fprintf(cmd.OutOrStdout(), "  %s %.1f%%", name, 100*probs[c])
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

// loadImage decodes an image file into one normalised NCHW input.
func loadImage(path string, in dna.Shape, mean, std []float32) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b := img.Bounds()
	x := make([]float32, in.C*in.H*in.W)
	for yy := range in.H {
		for xx := range in.W {
			px := img.At(b.Min.X+xx*b.Dx()/in.W, b.Min.Y+yy*b.Dy()/in.H)
			var ch []float32
			if in.C == 1 {
				g := color.GrayModel.Convert(px).(color.Gray)
				ch = []float32{float32(g.Y)}
			} else {
				r, gg, bb, _ := px.RGBA()
				ch = []float32{float32(r >> 8), float32(gg >> 8), float32(bb >> 8)}
			}
			for c := range in.C {
				v := ch[min(c, len(ch)-1)] / 255
				x[(c*in.H+yy)*in.W+xx] = (v - mean[c]) / std[c]
			}
		}
	}
	return x, nil
}

func softmax(z []float32) []float64 {
	m := z[0]
	for _, v := range z {
		m = max(m, v)
	}
	p := make([]float64, len(z))
	sum := 0.0
	for i, v := range z {
		p[i] = math.Exp(float64(v - m))
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}
