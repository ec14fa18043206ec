#!/usr/bin/env python3
"""Runs an evoswarm network in PyTorch, for train/crosscheck_test.go.

    crosscheck.py DIR

DIR holds what the test wrote:
  genome.json   the genome (dna.Genome.MarshalJSON)
  weights.json  {key: {"shape": [...], "data": [...]}} in evoswarm's keys
  batch.json    {"shape": [B, C, H, W], "eval": {"x": [...], "labels": [...]},
                 "train": [{"x": [...], "labels": [...]}, ...]}
  config.json   {"lr", "momentum", "weight_decay", "bn_momentum", "bn_epsilon", "steps"}

It prints one JSON object: the eval-mode logits on the eval batch before
training ("logits_before", flattened B x classes), the loss of each SGD step
on the training batches in train mode ("losses"), the eval-mode logits after
("logits_after") and every tensor after training ("weights", flattened).
"""

import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torchnet  # noqa: E402


def main(d):
    def read(name):
        with open(os.path.join(d, name)) as f:
            return json.load(f)

    cfg, batch = read("config.json"), read("batch.json")
    model = torchnet.GenomeNet(read("genome.json"), cfg["bn_momentum"], cfg["bn_epsilon"])
    torchnet.load_weights(model, torchnet.read_weights_json(os.path.join(d, "weights.json")))
    opt = torchnet.make_sgd(model, cfg["lr"], cfg["momentum"], cfg["weight_decay"])

    def images(b):
        return torch.tensor(b["x"], dtype=torch.float32).reshape(batch["shape"])

    def logits():
        model.eval()
        with torch.no_grad():
            return model(images(batch["eval"])).flatten().tolist()

    before = logits()
    losses = []
    model.train()
    for s in range(cfg["steps"]):
        b = batch["train"][s % len(batch["train"])]
        loss = F.cross_entropy(model(images(b)), torch.tensor(b["labels"], dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    after = logits()
    weights = {k: v.flatten().tolist() for k, v in torchnet.export_weights(model).items()}
    json.dump({"logits_before": before, "losses": losses, "logits_after": after, "weights": weights}, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: crosscheck.py DIR")
    main(sys.argv[1])
