package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"math"

	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/island/dna"
)

// Landscape is the fake trainer's fitness: a cheap function of a genome's
// architecture and of the training its weights accumulated along its
// lineage, plus measurement noise. It is not a model of any data set; it
// has what matters to selection and migration: a climb from about 20%
// (the initial individual), a reward for depth, width, downsampling and a
// good learning rate that saturates, a bonus or malus per architecture
// (ruggedness, so that there are many local optima and diversity matters),
// training that inherited weights keep and reshaping mutations partly
// lose, costs that grow with the network (the real cost model's FLOPs),
// and noise that differs between the node that trained an individual and
// one that re-measures it (another validation split).
type Landscape struct {
	// Steps, Batch and ValImages size a child's training and evaluation,
	// hence its FLOPs (as train counts them) and its time.
	Steps, Batch, ValImages int
	// Noise is the standard deviation of a measure (validation accuracy).
	Noise float64
	// Ruggedness is the size of the per-architecture bonus or malus.
	Ruggedness float64
	// Tau is the training (steps) a lineage needs to reach about 63% of
	// what its architecture allows.
	Tau float64
	// Speed (FLOPs per second), StepOverhead and ImageOverhead (seconds)
	// give a training's virtual duration on a node of speed 1.
	Speed         float64
	StepOverhead  float64
	ImageOverhead float64
}

// DefaultLandscape is sized like the cpu-small preset on a 2-core machine:
// the initial individual trains in about a second, an evolved network of
// 0.4 MFLOPs per image in about five.
func DefaultLandscape(steps, batch, valImages int) Landscape {
	return Landscape{Steps: steps, Batch: batch, ValImages: valImages, Noise: 0.004, Ruggedness: 0.06,
		Tau: 5 * float64(steps), Speed: 5e9, StepOverhead: 0.002, ImageOverhead: 20e-6}
}

// state is what the fake weights carry: the training the lineage
// accumulated, and the lineage (its initial individual).
type state struct {
	trained float64
	lineage uint64
}

func (s state) encode() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, math.Float64bits(s.trained))
	binary.LittleEndian.PutUint64(b[8:], s.lineage)
	return b
}

func decodeState(b []byte) (state, error) {
	if len(b) != 16 {
		return state{}, errors.New("sim: weights are not the landscape's")
	}
	return state{math.Float64frombits(binary.LittleEndian.Uint64(b)), binary.LittleEndian.Uint64(b[8:])}, nil
}

// kept is the share of the parent's training a mutation keeps: all of it
// when the weights are untouched, none after a reset, part of it when
// tensors are reshaped (exact inheritance starts those afresh).
func kept(k dna.Kind) float64 {
	switch k {
	case dna.KeepTraining, dna.AlterLearningRate:
		return 1
	case dna.ResetWeights:
		return 0
	case dna.AddSkip, dna.RemoveSkip, dna.InsertOneToOne:
		return 0.8
	}
	return 0.5
}

// quality is what an architecture allows, in [0, 1].
func (l *Landscape) quality(sig island.Signature) float64 {
	convs, logCh, stride, filter, bn := 0, 0.0, 0, 0.0, 0
	for _, ly := range sig.Layers {
		if ly.Conv {
			convs++
			logCh += math.Log2(float64(max(ly.Channels, 1)))
			stride += ly.StrideLog2
			filter += math.Abs(float64(ly.FilterH-3)) + math.Abs(float64(ly.FilterW-3))
		}
		if ly.BNReLU {
			bn++
		}
	}
	depth := 1 - math.Exp(-float64(convs)/2.5)
	width, filt := 0.0, 1.0
	if convs > 0 {
		width = 1 - math.Exp(-math.Exp2(logCh/float64(convs))/12)
		filt = math.Exp(-filter / float64(convs) / 8)
	}
	down := math.Exp(-math.Pow(float64(stride-2), 2) / 4)
	lr := math.Exp(-math.Pow(sig.LogLR-math.Log2(0.05), 2) / 8)
	norm := 0.8 + 0.2*float64(bn)/float64(max(len(sig.Layers), 1))
	skip := 1 + 0.03*math.Min(float64(sig.Skips), 3)
	q := 0.15 + 0.85*depth*width*filt*down*lr*norm*skip
	return min(max(q+l.Ruggedness*rugged(sig), 0), 1)
}

// rugged is a fixed pseudo-random value in [-1, 1] per architecture (its
// layers' kinds, channels, filters and strides, and its skips).
func rugged(sig island.Signature) float64 {
	h := fnv.New64a()
	var b [8]byte
	for _, ly := range sig.Layers {
		binary.LittleEndian.PutUint16(b[:], uint16(ly.Channels))
		b[2], b[3], b[4], b[5] = byte(ly.FilterH), byte(ly.FilterW), byte(ly.StrideLog2), 0
		if ly.Conv {
			b[5] |= 1
		}
		if ly.BNReLU {
			b[5] |= 2
		}
		h.Write(b[:6])
	}
	b[0] = byte(sig.Skips)
	h.Write(b[:1])
	return 2*unit(h.Sum64()) - 1
}

// fitness is the validation accuracy of g with weights s, as measured by
// a node whose validation split is named by split.
func (l *Landscape) fitness(g *dna.Genome, s state, id dna.ID, split uint64) float64 {
	q := l.quality(island.SignatureOf(g))
	acc := 0.1 + 0.85*q*(1-math.Exp(-s.trained/l.Tau))
	return min(max(acc+l.Noise*gauss(id, split), 0), 1)
}

// cost returns the FLOPs of training and evaluating g, as train counts
// them, and how long that takes on a node of the given speed.
func (l *Landscape) cost(g *dna.Genome, speed float64) (trainFLOPs, evalFLOPs int64, seconds float64) {
	f := g.FLOPs()
	trainFLOPs = 3 * f * int64(l.Batch) * int64(l.Steps)
	evalFLOPs = f * int64(l.ValImages)
	seconds = (float64(trainFLOPs+evalFLOPs)/l.Speed + float64(l.Steps)*l.StepOverhead + float64(l.ValImages)*l.ImageOverhead) / speed
	return
}

// remeasureSeconds is how long re-measuring g takes on a node of the
// given speed.
func (l *Landscape) remeasureSeconds(g *dna.Genome, speed float64) float64 {
	return (float64(g.FLOPs())*float64(l.ValImages)/l.Speed + float64(l.ValImages)*l.ImageOverhead) / speed
}

// trainer is one virtual node's island.Trainer over the landscape. It
// remembers the virtual duration of its last training for the clock.
type trainer struct {
	l     *Landscape
	split uint64  // this node's validation split
	speed float64 // relative to the landscape's Speed
	last  float64 // seconds of the last training
}

func (t *trainer) Train(_ context.Context, g *dna.Genome, parentWeights []byte, _ uint64) (*island.Outcome, error) {
	var s state
	if parentWeights == nil {
		s.lineage = binary.LittleEndian.Uint64(func() []byte { id := g.ID(); return id[:8] }())
	} else {
		p, err := decodeState(parentWeights)
		if err != nil {
			return nil, err
		}
		s = state{trained: p.trained * kept(g.Mutation), lineage: p.lineage}
	}
	s.trained += float64(t.l.Steps)
	tf, ef, sec := t.l.cost(g, t.speed)
	t.last = sec
	return &island.Outcome{Fitness: t.l.fitness(g, s, g.ID(), t.split), Weights: s.encode(), Steps: int64(t.l.Steps),
		Params: g.Params(), TrainFLOPs: tf, EvalFLOPs: ef}, nil
}

// splitmix is a 64-bit mixer (SplitMix64's finaliser).
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// unit maps x to [0, 1).
func unit(x uint64) float64 { return float64(splitmix(x)>>11) / (1 << 53) }

// gauss is a standard normal value fixed by (id, split).
func gauss(id dna.ID, split uint64) float64 {
	a := binary.LittleEndian.Uint64(id[:8]) ^ splitmix(split)
	u1, u2 := unit(a), unit(a^0x5bd1e995)
	return math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
}
