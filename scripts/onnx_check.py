#!/usr/bin/env python3
"""Check and run an evoswarm ONNX export without onnxruntime.

usage: onnx_check.py MODEL.onnx BATCH.json

BATCH.json is {"shape": [N, C, H, W], "x": [N*C*H*W floats]}. The script runs
onnx.checker.check_model (with full shape inference), then evaluates the
graph with a small numpy interpreter for exactly the ops internal/onnx
writes (onnx.reference is not in onnx 1.12), and prints
{"shape": [N, classes], "logits": [...]} as JSON on stdout.
"""
import json
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def conv(x, w, kernel_shape=None, pads=None, strides=None, dilations=None, group=1, auto_pad=b"NOTSET"):
    if group != 1 or (dilations is not None and any(d != 1 for d in dilations)):
        raise NotImplementedError("Conv: group and dilations other than 1")
    if auto_pad not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("Conv: auto_pad")
    n, c, h, wd = x.shape
    co, ci, kh, kw = w.shape
    assert ci == c, (x.shape, w.shape)
    if kernel_shape is not None:
        assert list(kernel_shape) == [kh, kw]
    pads = pads or [0, 0, 0, 0]
    sh, sw = strides or [1, 1]
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - kh) // sh + 1
    ow = (wd + pads[1] + pads[3] - kw) // sw + 1
    out = np.zeros((n, co, oh, ow), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out


def batchnorm(x, scale, b, mean, var, epsilon=1e-5, momentum=0.9, training_mode=0):
    if training_mode:
        raise NotImplementedError("BatchNormalization: training_mode")
    sh = (1, -1, 1, 1)
    return (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + epsilon) * scale.reshape(sh) + b.reshape(sh)


def gather(x, idx, axis=0):
    return np.take(x, idx.astype(np.int64), axis=axis)


def slice_(x, starts, ends, axes=None, steps=None):
    axes = list(range(len(starts))) if axes is None else [int(a) for a in axes]
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    sl = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        sl[a] = slice(int(s), int(e), st)
    return x[tuple(sl)]


def pad(x, pads, constant_value=None, mode=b"constant"):
    if mode not in (b"constant", "constant"):
        raise NotImplementedError("Pad: mode %r" % mode)
    r = x.ndim
    pads = [int(p) for p in pads]
    assert min(pads) >= 0, "Pad: negative pads"
    cv = 0.0 if constant_value is None or constant_value.size == 0 else float(constant_value.reshape(-1)[0])
    return np.pad(x, [(pads[i], pads[i + r]) for i in range(r)], constant_values=cv)


def gemm(a, b, c=None, alpha=1.0, beta=1.0, transA=0, transB=0):
    a = a.T if transA else a
    b = b.T if transB else b
    y = alpha * (a @ b)
    if c is not None:
        y = y + beta * c
    return y


def flatten(x, axis=1):
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


OPS = {
    "Conv": lambda ins, at: conv(*ins, **at),
    "BatchNormalization": lambda ins, at: batchnorm(*ins, **at),
    "Relu": lambda ins, at: np.maximum(ins[0], 0),
    "Sum": lambda ins, at: sum(ins[1:], ins[0]),
    "Add": lambda ins, at: ins[0] + ins[1],
    "Gather": lambda ins, at: gather(*ins, **at),
    "Slice": lambda ins, at: slice_(*ins, **at),
    "Pad": lambda ins, at: pad(*ins, **at),
    "Concat": lambda ins, at: np.concatenate(ins, axis=at["axis"]),
    "GlobalAveragePool": lambda ins, at: ins[0].mean(axis=(2, 3), keepdims=True),
    "Flatten": lambda ins, at: flatten(*ins, **at),
    "Gemm": lambda ins, at: gemm(*ins, **at),
}


def run(model, x):
    g = model.graph
    env = {}
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        env[t.name] = a.astype(np.float64) if a.dtype == np.float32 else a
    if len(g.input) != 1 or len(g.output) != 1:
        raise ValueError("want one graph input and one output")
    env[g.input[0].name] = x.astype(np.float64)
    for node in g.node:
        if node.domain not in ("", "ai.onnx"):
            raise NotImplementedError("domain %r" % node.domain)
        op = OPS.get(node.op_type)
        if op is None:
            raise NotImplementedError("op %s" % node.op_type)
        ins = [env[i] if i else None for i in node.input]
        at = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        out = op(ins, at)
        assert len(node.output) == 1, node
        env[node.output[0]] = out
    return env[g.output[0].name]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model = onnx.load(sys.argv[1])
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == 7, model.ir_version
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 13)], model.opset_import
    with open(sys.argv[2]) as f:
        batch = json.load(f)
    x = np.asarray(batch["x"], dtype=np.float32).reshape(batch["shape"])
    y = run(model, x)
    # The inferred output shape must agree with what the interpreter got.
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    dims = inferred.graph.output[0].type.tensor_type.shape.dim
    for d, n in zip(dims, y.shape):
        if d.HasField("dim_value") and d.dim_value != n:
            raise ValueError("output shape %s, inferred %s" % (y.shape, dims))
    json.dump({"shape": list(y.shape), "logits": y.reshape(-1).tolist()}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
