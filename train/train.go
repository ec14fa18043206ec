package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/evoswarm/evoswarm/island/dna"
	"github.com/evoswarm/evoswarm/train/dataset"
	"github.com/evoswarm/evoswarm/train/device"
)

// RunOptions are the settings of one training run beyond the experiment's
// Config.
type RunOptions struct {
	// Seed drives initialisation, batch order and augmentation.
	Seed uint64
	// Test also measures accuracy on the test split. Evolution never does:
	// the test split is only for reporting a final model.
	Test bool
	// Progress, if set, is called after every step with the step number
	// (from 1) and the batch loss.
	Progress func(step int, loss float64)
	// Device, when set, trains and evaluates on that device (a GPU, see
	// package device) instead of the CPU. The caller must not be using it
	// (Train takes it with Begin).
	Device device.Device
	// Engine picks the CPU engine when Device is nil: EngineAuto (oneDNN
	// where the build has it), EngineGorgonia or EngineOneDNN.
	Engine string
}

// Result is what training and evaluating one genome produced.
type Result struct {
	// ValAccuracy is the fitness: accuracy on the validation split. It is
	// 0 when training diverged.
	ValAccuracy float64 `json:"val_accuracy"`
	// TestAccuracy is set only when RunOptions.Test asked for it.
	TestAccuracy *float64 `json:"test_accuracy"`
	Steps        int      `json:"steps"`
	// Seconds is the time the training steps took. BuildSeconds is the
	// time before the first step (laying out the model, inheriting, building
	// the network) and EvalSeconds the time of the evaluation after the last.
	Seconds      float64 `json:"seconds"`
	BuildSeconds float64 `json:"build_seconds"`
	EvalSeconds  float64 `json:"eval_seconds"`
	// ImagesPerSecond is the training throughput.
	ImagesPerSecond float64 `json:"images_per_second"`
	// TrainFLOPs and EvalFLOPs follow the paper's accounting: training
	// costs 3x the forward FLOPs per image (forward and backward), times
	// images seen; evaluation costs the forward FLOPs per image evaluated.
	TrainFLOPs int64 `json:"train_flops"`
	EvalFLOPs  int64 `json:"eval_flops"`
	Inheritance
	FinalLoss float64 `json:"final_loss"`
	// Device names the device that trained it; empty for the CPU.
	Device string `json:"device,omitempty"`
	// Engine names the engine that trained it: a device's, or a CPU
	// engine (EngineGorgonia, EngineOneDNN).
	Engine string `json:"engine"`
	// Diverged is set, with Reason, when the loss became NaN or infinite:
	// the individual gets fitness 0 and is not an error.
	Diverged bool   `json:"diverged"`
	Reason   string `json:"reason,omitempty"`
	// Weights are the trained tensors.
	Weights *Weights `json:"-"`
}

// Train builds g's network, inherits every tensor of parent (nil for none)
// whose weight ID and shape match, trains it for cfg.Steps SGD steps on
// data's training split and evaluates it on the validation split. A genome
// over the bounds or the memory budget is refused before anything is
// allocated. A diverging loss ends training with fitness 0, not an error.
// Cancelling ctx stops training within one step. No panic escapes.
func Train(ctx context.Context, g *dna.Genome, parent *Weights, data *dataset.Set, cfg Config, opt RunOptions) (res *Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("train: genome %s: internal error: %v", g.ID().Short(), p)
		}
	}()
	// One OS thread for the whole run. OpenMP keeps a team of worker
	// threads per calling thread: a goroutine that moved between OS
	// threads from one step to the next would leave the last thread's
	// workers spinning beside the new team's, and at two threads a small
	// network then trained at anything from half to full speed.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	built := time.Now()
	r, err := check(g, data, &cfg, forTraining)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x747261696e)) // "train"
	var eng engine
	if opt.Device != nil {
		eng, err = newDeviceEngine(g, r, parent, &cfg, opt.Device, rng)
	} else {
		eng, err = newHostEngine(opt.Engine, g, r, parent, &cfg, rng)
	}
	if err != nil {
		return nil, err
	}
	defer eng.close()
	res = &Result{Inheritance: eng.inheritance(), Engine: engineName(eng)}
	if opt.Device != nil {
		res.Device = opt.Device.Name()
	}
	flops := g.FLOPs()
	x, labels, err := eng.batch()
	if err != nil {
		return nil, err
	}
	sampler, err := dataset.NewSampler(data.Train.N, cfg.BatchSize, rng)
	if err != nil {
		return nil, err
	}
	aug := data.DefaultAugment()
	start := time.Now()
	res.BuildSeconds = start.Sub(built).Seconds()
	for step := 1; step <= cfg.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := data.Batch(data.Train, sampler.Next(), aug, rng, x, labels); err != nil {
			return nil, err
		}
		loss, err := eng.trainStep()
		if err != nil {
			return nil, err
		}
		res.Steps, res.FinalLoss = step, loss
		res.TrainFLOPs += 3 * flops * int64(cfg.BatchSize)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			res.Diverged = true
			res.Reason = fmt.Sprintf("%v: loss %v at step %d", errDiverged, loss, step)
			break
		}
		if opt.Progress != nil {
			opt.Progress(step, loss)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.ImagesPerSecond = float64(res.Steps*cfg.BatchSize) / res.Seconds
	}
	if res.Weights, err = eng.weights(); err != nil {
		return nil, err
	}
	if !res.Diverged && !res.Weights.finite() {
		res.Diverged = true
		res.Reason = fmt.Sprintf("%v: weights are not finite after step %d", errDiverged, res.Steps)
	}
	if res.Diverged {
		return res, nil
	}
	evalStart := time.Now()
	defer func() {
		if res != nil {
			res.EvalSeconds = time.Since(evalStart).Seconds()
		}
	}()
	eb := min(cfg.EvalBatch, max(data.Val.N, data.Test.N, 1))
	if res.ValAccuracy, err = eng.accuracy(ctx, data, data.Val, eb); err != nil {
		return nil, err
	}
	res.EvalFLOPs += flops * int64(data.Val.N)
	if opt.Test {
		acc, err := eng.accuracy(ctx, data, data.Test, eb)
		if err != nil {
			return nil, err
		}
		res.TestAccuracy = &acc
		res.EvalFLOPs += flops * int64(data.Test.N)
	}
	return res, nil
}

// errDiverged marks a loss that became NaN or infinite.
var errDiverged = errors.New("loss diverged")
