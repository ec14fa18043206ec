// Package train turns a genome into a trained classifier: it lays out the
// genome's tensors (inheriting its parent's where they fit), trains them
// with SGD on a data set's training split, and measures the fitness, the
// accuracy on the validation split. Train, Evaluate and Predict let no
// panic escape, and refuse a genome they cannot afford before allocating
// anything.
//
// One genome's path through Train, file by file:
//
//   - config.go: Config, the experiment's training settings (steps, batch,
//     SGD, batch norm, bounds, memory budget, inheritance mode).
//   - train.go: Train, the loop. It checks the genome, builds an engine,
//     draws batches from package dataset, runs cfg.Steps steps (a loss
//     that is not finite ends them with fitness 0), reads the weights back
//     and evaluates; RunOptions and Result are its input and output.
//   - check.go: what Train, Evaluate, NewNetwork and the others refuse
//     before building: an invalid config, a genome over the bounds or not
//     matching the data set, one over the memory budget (ErrMemoryBudget).
//   - memory.go: EstimateMemory, the budget's estimate of what a genome's
//     network takes.
//   - engine.go: the engine interface Train drives, and which CPU engine
//     RunOptions.Engine picks (EngineAuto, EngineGorgonia, EngineOneDNN).
//   - model.go: the model laid out from the genome, every engine's
//     tensors under the same keys (conv/ID, bn/ID/role, fc/ID/role),
//     copied from the parent where the key and shape match and initialised
//     from the run's random stream otherwise.
//   - inherit.go: Inheritance, the inheritance modes and the account of
//     what a child took from its parent; copyOverlap for partial
//     inheritance.
//
// Then one of three engines trains that model:
//
//   - cpu_network.go: Network, the gorgonia CPU network (every build's
//     reference engine, also driven step by step by tools), and Train's
//     cpuEngine over it;
//   - cpu_graph.go: the gorgonia expression graph built from the model for
//     one batch size (training: loss and gradients; evaluation: forward
//     only), run and read;
//   - cpu_layers.go: one graph node per operation (convolution, BN-ReLU,
//     reconciliation, sum, pooling, the dense layer, the loss);
//   - cpu_op.go: kernelOp, which makes each train/kernels kernel a
//     gorgonia Op;
//   - sgd.go: the optimiser, SGD with momentum and weight decay as
//     PyTorch's (the oneDNN and device engines run the same update in
//     their own code);
//   - onednn.go: the oneDNN engine, the same model handed to package dnnl;
//   - device_network.go: DeviceNetwork, the network on a device (package
//     device: a GPU, or its emulator), its step and inference, and Train's
//     deviceEngine over it;
//   - device_pass.go: a device network's activations for one batch size
//     and its explicit forward and backward passes.
//
// After training:
//
//   - evaluate.go: Evaluate, EvaluateOn and Predict, for weights already
//     trained, and the accuracy every engine reports;
//   - weights.go: Tensor and Weights, their binary encoding and digest,
//     what the store keeps and gossip sends.
//
// Beside the path: agreement.go compares the oneDNN and device engines
// with the gorgonia one (CompareOneDNN, CompareDevice), and reference.go
// holds the reference network the benchmarks compare against PyTorch.
package train
