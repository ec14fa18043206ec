#!/usr/bin/env python3
"""Writes the evolved-looking genomes that scripts/bench/train.sh benchmarks
beside the reference CNN, in evoswarm's genome JSON format (check them with
`evoswarm dna check < FILE`):

  deep-narrow.json  ten 3x3 convolutions of 8-16 channels, BN-ReLU, two
                    stride-2 steps: many small operations;
  wide.json         three convolutions of 96-128 channels, one 5x5;
  skips.json        five convolutions with three skips whose shapes differ
                    from their target's (resized and zero-padded/truncated).
"""
import json


class G:
    def __init__(self, lr=0.05):
        self.g = {"format": 1, "learning_rate": lr, "input": {"h": 28, "w": 28, "c": 1}, "classes": 10,
                  "input_vertex": 0, "output_vertex": 1, "fc_weight_id": 2, "next_id": 3, "nonce": 0,
                  "vertices": [{"id": 0, "type": "linear", "inputs_mutable": False, "outputs_mutable": True},
                               {"id": 1, "type": "linear", "inputs_mutable": True, "outputs_mutable": False}],
                  "edges": []}
        self.last = 0

    def new(self):
        i = self.g["next_id"]
        self.g["next_id"] += 1
        return i

    def conv(self, ch, k=3, kw=None, stride=1, bn=True):
        v = self.new()
        vert = {"id": v, "type": "bn_relu" if bn else "linear", "inputs_mutable": True, "outputs_mutable": True}
        if bn:
            vert["weight_id"] = self.new()
        self.g["vertices"].append(vert)
        e = self.new()
        self.g["edges"].append({"id": e, "from": self.last, "to": v, "type": "conv", "channels": ch, "filter_h": k,
                                "filter_w": kw or k, "stride": stride, "weight_id": self.new(),
                                "depth_precedence": 1, "scale_precedence": 1})
        self.last = v
        return v

    def skip(self, a, b):
        self.g["edges"].append({"id": self.new(), "from": a, "to": b, "type": "identity",
                                "depth_precedence": 0, "scale_precedence": 0})

    def done(self, path):
        self.g["edges"].append({"id": self.new(), "from": self.last, "to": 1, "type": "identity",
                                "depth_precedence": 1, "scale_precedence": 1})
        self.g["vertices"].sort(key=lambda v: v["id"])
        self.g["edges"].sort(key=lambda e: e["id"])
        with open(path, "w") as f:
            json.dump(self.g, f, indent=1)
            f.write("\n")


d = G()
for i, (ch, s) in enumerate([(8, 1), (8, 1), (8, 1), (12, 2), (12, 1), (12, 1), (16, 2), (16, 1), (16, 1), (16, 1)]):
    d.conv(ch, stride=s)
d.done("deep-narrow.json")

w = G()
w.conv(96, stride=2)
w.conv(128, k=5)
w.conv(128, stride=2)
w.done("wide.json")

s = G()
a = s.conv(16)
b = s.conv(24, stride=2)
c = s.conv(32, k=3, kw=5)
d2 = s.conv(32, stride=2, bn=False)
e = s.conv(48)
s.skip(0, c)   # 28x28x1 -> 14x14x32: resized, zero-padded
s.skip(a, e)   # 28x28x16 -> 7x7x48: resized, zero-padded
s.skip(c, 1)   # 14x14x32 -> output 7x7x48
s.done("skips.json")
