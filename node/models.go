package node

import (
	"cmp"
	"context"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // predict reads JPEG
	_ "image/png"  // and PNG
	"io"
	"math"
	"os"
	"slices"

	"github.com/evoswarm/evoswarm/internal/model"
	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train"
	"github.com/evoswarm/evoswarm/train/dataset"
)

// Using exported models (the directories Export writes): Eval measures
// them on a data set's test split, a Classifier names the classes of
// image files.

// EvalResult is a test of exported models, as `evoswarm eval --json`
// prints it.
type EvalResult struct {
	Models       []string `json:"models"`
	Images       int      `json:"images"`
	TestAccuracy float64  `json:"test_accuracy"`
	Confusion    [][]int  `json:"confusion"` // [true class][predicted class]
	// ClassNames are the first model's names of the classes.
	ClassNames []string `json:"-"`
}

// Eval measures the exported models in dirs on the test split of data set
// dataName ("": the first model's): with one model its accuracy, with
// more their majority vote's (the paper's ensemble; ties go to the lower
// class), and the confusion matrix. It calls progress(i, n, images) before
// the i-th model of n (from 1) predicts.
func Eval(ctx context.Context, dirs []string, dataName string, progress func(i, n, images int)) (*EvalResult, error) {
	var models []*model.Model
	for _, d := range dirs {
		m, err := model.Load(d)
		if err != nil {
			return nil, err
		}
		models = append(models, m)
	}
	if dataName == "" {
		dataName = models[0].Metrics.Data
	}
	data, err := dataset.Load(dataName, dataset.DefaultOptions())
	if err != nil {
		return nil, err
	}
	cfg := train.DefaultConfig()
	votes := make([][]int, data.Test.N)
	for i := range votes {
		votes[i] = make([]int, data.Classes)
	}
	for i, m := range models {
		if progress != nil {
			progress(i+1, len(models), data.Test.N)
		}
		data.Mean, data.Std = m.Metrics.Mean, m.Metrics.Std
		cfg.BNEpsilon = m.Metrics.BNEpsilon
		pred, err := train.Predict(ctx, m.Genome, m.Weights, data, data.Test, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Dir, err)
		}
		for i, p := range pred {
			votes[i][p]++
		}
	}
	res := &EvalResult{Models: dirs, Images: data.Test.N, Confusion: make([][]int, data.Classes), ClassNames: models[0].Metrics.ClassNames}
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
	return res, nil
}

// Classifier is an exported model ready to classify images.
type Classifier struct {
	m   *model.Model
	net *train.Network
}

// OpenClassifier loads the exported model in dir. Close releases it.
func OpenClassifier(dir string) (*Classifier, error) {
	m, err := model.Load(dir)
	if err != nil {
		return nil, err
	}
	cfg := train.DefaultConfig()
	cfg.BNEpsilon = m.Metrics.BNEpsilon
	net, err := train.NewNetwork(m.Genome, m.Weights, cfg)
	if err != nil {
		return nil, err
	}
	return &Classifier{m: m, net: net}, nil
}

// Close releases the model's network.
func (c *Classifier) Close() { c.net.Close() }

// Class is a class a model gives an image, with its probability.
type Class struct {
	Name string // the model's name of the class, else its number
	P    float64
}

// Classify returns the top classes the model gives the image file at path
// (PNG or JPEG), most probable first. The image is converted to the
// model's input: grey or RGB as the model expects, scaled to its height
// and width by nearest neighbour, and normalised with the statistics the
// model was trained with.
func (c *Classifier) Classify(path string, top int) ([]Class, error) {
	x, err := loadImage(path, c.m.Genome.Input, c.m.Metrics.Mean, c.m.Metrics.Std)
	if err != nil {
		return nil, err
	}
	logits, err := c.net.Logits(x, 1)
	if err != nil {
		return nil, err
	}
	probs := softmax(logits)
	order := make([]int, len(probs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(probs[b], probs[a]) })
	var out []Class
	for _, k := range order[:min(max(top, 0), len(order))] {
		name := fmt.Sprint(k)
		if k < len(c.m.Metrics.ClassNames) {
			name = c.m.Metrics.ClassNames[k]
		}
		out = append(out, Class{Name: name, P: probs[k]})
	}
	return out, nil
}

// maxImagePixels bounds the images predict decodes (a 64-megapixel photo
// is 256 MiB decoded as 8-bit RGBA).
const maxImagePixels = 64 << 20

// loadImage decodes an image file into one normalised NCHW input.
func loadImage(path string, in dna.Shape, mean, std []float32) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The header first: a small file can declare an image of gigabytes.
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return nil, fmt.Errorf("%s: %dx%d pixels, more than the %d this reads: scale it down first", path, cfg.Width, cfg.Height, maxImagePixels)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
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
