// Package dataset is the data-set layer of the training engine: it finds
// image classification data on disk, checks and decodes it, holds it in
// memory, splits it, and hands out normalised (and, for training,
// augmented) batches. It owns nothing else: no network, no training loop,
// no downloading (scripts/fetch-data.sh does that).
//
// # How data enters
//
// Load(name, opts) takes a data set's name, "fashion-mnist", "mnist",
// "cifar10" or "cifar100", looked up in order in $EVOSWARM_DATA/<name>, the
// user's cache directory (~/.cache/evoswarm/<name>) and Debian's
// /usr/share/datasets/<name> (see SearchPath), or the path of a directory.
// The format is known from the name, or detected from the files present:
//
//   - IDX (MNIST, Fashion-MNIST): train-images-idx3-ubyte, train-labels-idx1-ubyte,
//     t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each plain or gzipped (.gz);
//   - CIFAR-10 binary: data_batch_1.bin .. data_batch_5.bin and test_batch.bin,
//     in the directory or its cifar-10-batches-bin/ subfolder;
//   - CIFAR-100 binary: train.bin and test.bin (fine labels are used),
//     in the directory or its cifar-100-binary/ subfolder.
//
// Every file is checked in full before it is used: magic numbers, header
// sizes against the file's length, record sizes, image and label counts,
// label ranges, gzip CRCs. A problem is reported as one line naming the
// file, wrapping ErrNotFound or ErrCorrupt; no input makes the package
// panic or allocate much more than the file really holds.
//
// # What is kept
//
// A Set holds three Splits of uint8 pixels in NCHW order with uint8 labels
// (CIFAR-10's 60,000 images take 184 MB so, against 737 MB as float32).
// Val is a fixed sample of the training files, chosen by Options.Seed (10%
// by default: 6,000 for Fashion-MNIST, the paper's 5,000 for CIFAR); Train
// is the rest; Test is the test files, which evolution must never see.
// Mean and Std are per channel, computed on Train alone. Identity (name and
// SHA-256 of the decompressed files) lets an experiment record exactly what
// it trained on.
//
// # How data leaves
//
// Set.Batch copies the images at a list of indices into a caller's float32
// buffer, normalised, optionally augmented (Augment: random crop of a
// zero-padded image, random horizontal flip) with a caller's *rand.Rand; it
// does not allocate. A Sampler deals out shuffled index batches epoch after
// epoch. Evaluation walks Val or Test in order with Augment{}.
//
//	set, err := dataset.Load("fashion-mnist", dataset.DefaultOptions())
//	...
//	rng := rand.New(rand.NewPCG(seed, 0))
//	sampler, _ := dataset.NewSampler(set.Train.N, 50, rng)
//	x := make([]float32, 50*set.ImageSize())
//	y := make([]int32, 50)
//	for step := 0; step < steps; step++ {
//		if err := set.Batch(set.Train, sampler.Next(), set.DefaultAugment(), rng, x, y); err != nil {
//			...
//		}
//		// train on x, y
//	}
//
// A loaded Set is read-only and safe to share between goroutines; a
// Sampler and a *rand.Rand are not.
package dataset
