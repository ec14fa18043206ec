"""PyTorch networks from evoswarm genomes, built exactly as train/net.go builds them.

A genome is the JSON that dna.Genome.MarshalJSON writes (see
island/dna/testdata/golden.json). GenomeNet computes the vertices in the
order dna.Resolve gives (Kahn's algorithm, the ready list sorted by vertex
index, i.e. ID order). A vertex is the sum of its in-edges (the scale-primary
edge first, then edge-ID order), each edge's output reconciled to the vertex
shape (nearest-neighbour resize with source index floor(i*H1/H), then channel
truncation or zero padding); a bn_relu vertex then applies batch norm and
ReLU. Convs have "same" padding ((k-1)//2), stride 2^s and no bias. The
output vertex is followed by global average pooling and a linear layer.

Tensors are named by evoswarm's weight keys (train/weights.go):

    conv/<id>                          kernel (Cout, Cin, KH, KW)
    bn/<id>/{scale,offset,mean,var}    (C)
    fc/<id>/weight (classes, C), fc/<id>/bias (classes)

load_weights and export_weights move them in and out; make_sgd returns the
optimizer with evoswarm's update (weight decay on conv and fc weights only).

Only torch and numpy are needed.
"""

import bisect
import json
from collections import namedtuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

Shape = namedtuple("Shape", "h w c")


def load_genome(src):
    """Returns a genome dict from a path, a JSON string or a dict."""
    if isinstance(src, dict):
        return src
    if isinstance(src, str) and src.lstrip().startswith("{"):
        return json.loads(src)
    with open(src) as f:
        return json.load(f)


class Resolved:
    """A genome's shapes and order, as dna.Resolve computes them.

    Indices refer to the genome's vertex and edge lists (sorted by ID):
    order (vertex indices, input first), vertex_shape, edge_shape, and
    in_edges[i] (edge indices into vertex i, the scale-primary one first).
    """

    def __init__(self, g):
        vs, es = g["vertices"], g["edges"]
        index = {v["id"]: i for i, v in enumerate(vs)}
        nv = len(vs)
        out = [[] for _ in range(nv)]
        self.in_edges = [[] for _ in range(nv)]
        indeg = [0] * nv
        for j, e in enumerate(es):
            out[index[e["from"]]].append(j)
            self.in_edges[index[e["to"]]].append(j)
            indeg[index[e["to"]]] += 1
        self.input = index[g["input_vertex"]]
        self.output = index[g["output_vertex"]]
        ready = [i for i in range(nv) if indeg[i] == 0]
        if ready != [self.input]:
            raise ValueError("genome: vertices %s have no inputs" % [vs[i]["id"] for i in ready])
        self.order = []
        while ready:
            i = ready.pop(0)
            self.order.append(i)
            for j in out[i]:
                t = index[es[j]["to"]]
                indeg[t] -= 1
                if indeg[t] == 0:
                    bisect.insort(ready, t)
        if len(self.order) != nv or self.order[-1] != self.output:
            raise ValueError("genome: cyclic, or a vertex does not reach the output")

        self.vertex_shape = [None] * nv
        self.edge_shape = [None] * len(es)
        inp = g["input"]
        for i in self.order:
            if i == self.input:
                self.vertex_shape[i] = Shape(inp["h"], inp["w"], inp["c"])
                continue
            sp = dp = None
            for j in self.in_edges[i]:
                e = es[j]
                src = self.vertex_shape[index[e["from"]]]
                if e["type"] == "conv":
                    s = e["stride"]
                    self.edge_shape[j] = Shape(-(-src.h // s), -(-src.w // s), e["channels"])
                elif e["type"] == "identity":
                    self.edge_shape[j] = src
                else:
                    raise ValueError("genome: edge %d has unknown type %r" % (e["id"], e["type"]))
                # Highest precedence wins; ties go to the lower edge ID.
                if sp is None or e["scale_precedence"] > es[sp]["scale_precedence"]:
                    sp = j
                if dp is None or e["depth_precedence"] > es[dp]["depth_precedence"]:
                    dp = j
            self.vertex_shape[i] = Shape(self.edge_shape[sp].h, self.edge_shape[sp].w, self.edge_shape[dp].c)
            self.in_edges[i].sort(key=lambda j: (j != sp, j))
        self.index = index


def reconcile(x, shape):
    """Resizes x (B, C1, H1, W1) to shape as train/kernels.Reconcile does.

    The source indices are computed exactly in integers. F.interpolate's
    "nearest" multiplies by a float scale and can land one below when
    i*H1/H is a whole number (26 -> 22: row 11 reads 12, not 13), so it is
    not used."""
    _, c1, h1, w1 = x.shape
    if (h1, w1) != (shape.h, shape.w):
        rows = torch.tensor([i * h1 // shape.h for i in range(shape.h)], device=x.device)
        cols = torch.tensor([j * w1 // shape.w for j in range(shape.w)], device=x.device)
        x = x.index_select(2, rows).index_select(3, cols)
    if c1 > shape.c:
        x = x[:, : shape.c]
    elif c1 < shape.c:
        x = F.pad(x, (0, 0, 0, 0, 0, shape.c - c1))
    return x


class GenomeNet(nn.Module):
    """A genome's network. Inputs are (B, C, H, W) float32; outputs are logits."""

    def __init__(self, genome, bn_momentum=0.1, bn_eps=1e-3):
        super().__init__()
        g = load_genome(genome)
        self.vertices = sorted(g["vertices"], key=lambda v: v["id"])
        self.edges = sorted(g["edges"], key=lambda e: e["id"])
        g = dict(g, vertices=self.vertices, edges=self.edges)
        self.genome = g
        self.r = r = Resolved(g)
        self.convs = nn.ModuleDict()  # conv weight ID -> Conv2d
        self.bns = nn.ModuleDict()  # bn weight ID -> BatchNorm2d
        for j, e in enumerate(self.edges):
            if e["type"] == "conv":
                kh, kw = e["filter_h"], e["filter_w"]
                cin = r.vertex_shape[r.index[e["from"]]].c
                self.convs[str(e["weight_id"])] = nn.Conv2d(
                    cin, e["channels"], (kh, kw), stride=e["stride"],
                    padding=((kh - 1) // 2, (kw - 1) // 2), bias=False)
        for i, v in enumerate(self.vertices):
            if v["type"] == "bn_relu":
                self.bns[str(v["weight_id"])] = nn.BatchNorm2d(
                    r.vertex_shape[i].c, eps=bn_eps, momentum=bn_momentum)
        self.fc_id = g["fc_weight_id"]
        self.fc = nn.Linear(r.vertex_shape[r.output].c, g["classes"])

    def forward(self, x):
        r, acts = self.r, [None] * len(self.vertices)
        for i in r.order:
            if i == r.input:
                acts[i] = x
                continue
            acc = None
            for j in r.in_edges[i]:
                e = self.edges[j]
                y = acts[r.index[e["from"]]]
                if e["type"] == "conv":
                    y = self.convs[str(e["weight_id"])](y)
                if r.edge_shape[j] != r.vertex_shape[i]:
                    y = reconcile(y, r.vertex_shape[i])
                acc = y if acc is None else acc + y
            v = self.vertices[i]
            if v["type"] == "bn_relu":
                acc = F.relu(self.bns[str(v["weight_id"])](acc))
            acts[i] = acc
        return self.fc(acts[r.output].mean(dim=(2, 3)))


def tensor_map(model):
    """Maps each evoswarm weight key to the model's parameter or buffer."""
    m = {}
    for wid, conv in model.convs.items():
        m["conv/%s" % wid] = conv.weight
    for wid, bn in model.bns.items():
        m["bn/%s/scale" % wid] = bn.weight
        m["bn/%s/offset" % wid] = bn.bias
        m["bn/%s/mean" % wid] = bn.running_mean
        m["bn/%s/var" % wid] = bn.running_var
    m["fc/%d/weight" % model.fc_id] = model.fc.weight
    m["fc/%d/bias" % model.fc_id] = model.fc.bias
    return m


def load_weights(model, weights):
    """Copies weights ({key: array}) into model. Every tensor the genome
    needs must be there with its shape; other keys are ignored, as
    train.NewNetwork ignores them."""
    with torch.no_grad():
        for key, t in tensor_map(model).items():
            if key not in weights:
                raise KeyError("weights lack %s" % key)
            a = np.asarray(weights[key], dtype=np.float32)
            if tuple(a.shape) != tuple(t.shape):
                raise ValueError("%s has shape %s, the genome needs %s" % (key, a.shape, tuple(t.shape)))
            t.copy_(torch.from_numpy(a.copy()))


def export_weights(model):
    """Returns the model's tensors as {key: float32 numpy array}."""
    return {k: t.detach().cpu().numpy().copy() for k, t in tensor_map(model).items()}


def read_weights_json(path):
    """Reads {key: {"shape": [...], "data": [...]}} into {key: array}."""
    with open(path) as f:
        raw = json.load(f)
    return {k: np.asarray(v["data"], dtype=np.float32).reshape(v["shape"]) for k, v in raw.items()}


def make_sgd(model, lr, momentum=0.9, weight_decay=1e-4):
    """torch.optim.SGD with evoswarm's update: d = g + decay*w with decay on
    conv kernels and the fc weight only; v = momentum*v + d; w -= lr*v."""
    decay = [c.weight for c in model.convs.values()] + [model.fc.weight]
    rest = [p for bn in model.bns.values() for p in (bn.weight, bn.bias)] + [model.fc.bias]
    assert len(decay) + len(rest) == len(list(model.parameters()))
    return torch.optim.SGD([
        {"params": decay, "weight_decay": weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ], lr=lr, momentum=momentum)
