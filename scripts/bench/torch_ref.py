#!/usr/bin/env python3
"""PyTorch baseline for evoswarm's training throughput.

Trains the reference CNN (train.ReferenceCNN: conv 3x3 32 stride 1, BN-ReLU;
conv 3x3 64 stride 2, BN-ReLU; conv 3x3 64 stride 2, BN-ReLU; global average
pool; linear to 10) on 28x28x1 images with evoswarm's settings: batch 50,
SGD lr 0.05, momentum 0.9, weight decay 1e-4 on conv and fc weights, batch
norm momentum 0.1 and epsilon 1e-3. After a few warm-up steps it times
--steps training steps and a forward-only evaluation (batch 100,
torch.no_grad, model.eval()), and reports images per second for each and
the peak resident memory.

    torch_ref.py [--steps N] [--threads T] [--device cpu|cuda] [--json]
                 [--data DIR | --synthetic] [--genome FILE]
    torch_ref.py --check FILE   # FILE: ReferenceCNN's genome JSON

Data: Fashion-MNIST IDX files (*-images-idx3-ubyte.gz, *-labels-idx1-ubyte.gz)
from --data (default /usr/share/datasets/fashion-mnist), normalised with the
training set's mean and standard deviation and no augmentation, as evoswarm
does for IDX data sets. Without the files, or with --synthetic, random data.
--genome benchmarks any genome JSON through scripts/torchnet.py instead (its
own learning rate, input shape and classes). --check verifies that the
hard-coded CNN computes the same function as torchnet's network for the
given genome (train/crosscheck_test.go runs it on ReferenceCNN's genome).
"""

import argparse
import gzip
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import torchnet  # noqa: E402

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
BN_MOMENTUM, BN_EPS = 0.1, 1e-3


def reference_cnn():
    """The reference CNN, written out by hand."""
    layers, cin = [], 1
    for cout, stride in ((32, 1), (64, 2), (64, 2)):
        layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                   nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM), nn.ReLU()]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    return nn.Sequential(*layers)


def reference_sgd(model, lr, momentum=0.9, weight_decay=1e-4):
    """Weight decay on the conv kernels and the linear weight only."""
    decay = [p for p in model.parameters() if p.dim() > 1]
    rest = [p for p in model.parameters() if p.dim() <= 1]
    return torch.optim.SGD([{"params": decay, "weight_decay": weight_decay},
                            {"params": rest, "weight_decay": 0.0}], lr=lr, momentum=momentum)


def check(path):
    """Copies random weights from torchnet's network for the genome at path
    into the hard-coded CNN and compares their outputs and gradients."""
    torch.manual_seed(0)
    net = torchnet.GenomeNet(path, BN_MOMENTUM, BN_EPS)
    ref = reference_cnn()
    ref_convs = [m for m in ref if isinstance(m, nn.Conv2d)]
    ref_bns = [m for m in ref if isinstance(m, nn.BatchNorm2d)]
    convs, bns = list(net.convs.values()), list(net.bns.values())
    if len(convs) != len(ref_convs) or len(bns) != len(ref_bns):
        sys.exit("check: the genome has %d convs and %d BN vertices, the reference CNN %d and %d"
                 % (len(convs), len(bns), len(ref_convs), len(ref_bns)))
    pairs = list(zip(convs, ref_convs)) + list(zip(bns, ref_bns)) + [(net.fc, ref[-1])]
    with torch.no_grad():
        for a, b in pairs:
            if repr(a) != repr(b):
                sys.exit("check: layer %r differs from the reference's %r" % (a, b))
            for name, t in list(a.named_parameters()) + list(a.named_buffers()):
                if name == "running_var":
                    t.uniform_(0.5, 1.5)
                elif t.dtype.is_floating_point:
                    t.normal_(0, 0.3)
            b.load_state_dict(a.state_dict())
    x = torch.randn(8, 1, 28, 28)
    diffs = {}
    for mode in ("train", "eval"):
        net.train(mode == "train")
        ref.train(mode == "train")
        yn, yr = net(x), ref(x)
        diffs[mode] = (yn - yr).abs().max().item()
        if mode == "train":
            yn.square().sum().backward()
            yr.square().sum().backward()
            diffs["grad"] = max((a.weight.grad - b.weight.grad).abs().max().item() for a, b in pairs)
    ok = all(d <= 1e-5 for d in diffs.values())
    print(json.dumps({"ok": ok, "max_abs_diff": diffs}))
    if not ok:
        sys.exit(1)


def read_idx(path):
    """Reads a gzipped IDX file of unsigned bytes into a numpy array."""
    with gzip.open(path, "rb") as f:
        head = f.read(4)
        if head[:3] != b"\x00\x00\x08":
            raise ValueError("%s: not an IDX file of unsigned bytes" % path)
        dims = [int.from_bytes(f.read(4), "big") for _ in range(head[3])]
        a = np.empty(dims, dtype=np.uint8)
        buf, n = memoryview(a).cast("B"), 0
        while n < a.size:  # straight into the array: no second copy
            k = f.readinto(buf[n:])
            if not k:
                raise ValueError("%s: truncated" % path)
            n += k
    return a


def load_data(args, shape, classes):
    """Returns (train images, train labels, test images, test labels, name):
    uint8 images (N, C, H, W) and int64 labels."""
    files = [os.path.join(args.data, "%s-%s-idx%d-ubyte.gz" % (s, k, d))
             for s in ("train", "t10k") for k, d in (("images", 3), ("labels", 1))]
    if not args.synthetic and all(os.path.exists(f) for f in files):
        if shape != (1, 28, 28) or classes != 10:
            sys.exit("the genome wants %s images and %d classes; Fashion-MNIST has (1, 28, 28) and 10 (use --synthetic)"
                     % (shape, classes))
        xtr, ytr, xte, yte = (read_idx(f) for f in files)
        return (torch.from_numpy(xtr.reshape(-1, *shape)), torch.from_numpy(ytr.astype(np.int64)),
                torch.from_numpy(xte.reshape(-1, *shape)), torch.from_numpy(yte.astype(np.int64)),
                "fashion-mnist")
    if not args.synthetic:
        print("no Fashion-MNIST in %s: using synthetic data" % args.data, file=sys.stderr)
    g = torch.Generator().manual_seed(1)
    def rand(n):
        return (torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8),
                torch.randint(0, classes, (n,), generator=g))
    return (*rand(5000), *rand(2000), "synthetic")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200, help="timed training steps (default 200)")
    p.add_argument("--warmup", type=int, default=5, help="untimed training steps first (default 5)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--batch", type=int, default=50, help="training batch (default 50)")
    p.add_argument("--eval-batch", type=int, default=100, help="evaluation batch (default 100, as evoswarm)")
    p.add_argument("--eval-images", type=int, default=10000, help="images to evaluate, at most the test set (default 10000)")
    p.add_argument("--data", default=DEFAULT_DATA, help="directory of the Fashion-MNIST .gz files")
    p.add_argument("--synthetic", action="store_true", help="use random data")
    p.add_argument("--genome", help="benchmark this genome JSON (via torchnet.py) instead of the reference CNN")
    p.add_argument("--lr", type=float, help="learning rate (default: 0.05, or the genome's)")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda[:N]")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--check", metavar="FILE", help="check the reference CNN against torchnet's build of FILE and exit")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.check:
        return check(args.check)

    torch.manual_seed(0)
    if args.genome:
        genome = torchnet.load_genome(args.genome)
        model = torchnet.GenomeNet(genome, BN_MOMENTUM, BN_EPS)
        opt = torchnet.make_sgd(model, args.lr or genome["learning_rate"])
        i = genome["input"]
        shape, classes = (i["c"], i["h"], i["w"]), genome["classes"]
    else:
        model = reference_cnn()
        opt = reference_sgd(model, args.lr or 0.05)
        shape, classes = (1, 28, 28), 10
    dev = torch.device(args.device)
    model.to(dev)
    xtr, ytr, xte, yte, data_name = load_data(args, shape, classes)
    # Per-channel normalisation with the training set's statistics; the
    # images stay uint8 and each batch is normalised as it is drawn.
    # The statistics come from per-channel histograms, as evoswarm computes
    # them, so that no float copy of the data set inflates the peak RSS.
    levels = np.arange(256) / 255
    hists = [sum(np.bincount(xtr[lo: lo + 1000, c].numpy().ravel(), minlength=256)
                 for lo in range(0, len(xtr), 1000)) for c in range(shape[0])]
    means = [float((h * levels).sum() / h.sum()) for h in hists]
    stds = [float(np.sqrt((h * (levels - m) ** 2).sum() / h.sum())) for h, m in zip(hists, means)]
    mean = torch.tensor(means, device=dev).view(1, -1, 1, 1)
    std = torch.tensor(stds, device=dev).view(1, -1, 1, 1)
    def norm(x):
        # Each batch is drawn on the host and copied to the device, as
        # evoswarm does.
        return (x.to(dev, non_blocking=True).float() / 255 - mean) / std

    perm, pos = torch.randperm(len(xtr)), 0
    def step():
        nonlocal perm, pos
        if pos + args.batch > len(perm):
            perm, pos = torch.randperm(len(xtr)), 0
        idx = perm[pos: pos + args.batch]
        pos += args.batch
        loss = F.cross_entropy(model(norm(xtr[idx])), ytr[idx].to(dev, non_blocking=True))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    model.train()
    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    loss = float("nan")
    for _ in range(args.steps):
        loss = step()
    train_s = time.perf_counter() - t0

    model.eval()
    n_eval = min(args.eval_images, len(xte))
    correct = 0
    with torch.no_grad():
        model(norm(xte[: args.eval_batch]))  # warm-up
        t0 = time.perf_counter()
        for lo in range(0, n_eval, args.eval_batch):
            hi = min(lo + args.eval_batch, n_eval)
            correct += (model(norm(xte[lo:hi])).argmax(1).cpu() == yte[lo:hi]).sum().item()
        eval_s = time.perf_counter() - t0

    res = {
        "train_images_per_second": args.steps * args.batch / train_s,
        "eval_images_per_second": n_eval / eval_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": args.threads,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "steps": args.steps,
        "torch": torch.__version__,
        "model": args.genome or "reference-cnn",
        "data": data_name,
        "final_loss": loss,
        "eval_accuracy": correct / n_eval,
    }
    if dev.type == "cuda":
        res["peak_gpu_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
    if args.json:
        print(json.dumps(res))
    else:
        print("model %s on %s, torch %s, %d threads, device %s" % (res["model"], data_name, res["torch"], args.threads, res["device"]))
        print("train: %d steps of %d in %.2f s: %.1f images/s (final loss %.4f)"
              % (args.steps, args.batch, train_s, res["train_images_per_second"], loss))
        print("eval:  %d images in batches of %d in %.2f s: %.1f images/s (accuracy %.4f)"
              % (n_eval, args.eval_batch, eval_s, res["eval_images_per_second"], res["eval_accuracy"]))
        print("peak RSS: %.1f MiB" % res["peak_rss_mib"])


if __name__ == "__main__":
    main()
