#!/usr/bin/env python3
"""Check an evoswarm ONNX export against the ONNX specification.

usage: onnx_check.py MODEL.onnx

Runs Debian's python3-onnx checker on the file: onnx.checker.check_model
with full_check (operator schemas, types, shape inference), the IR version
(7) and opset (13) that internal/onnx promises, and strict shape inference,
then prints the inferred graph input and output shapes as JSON,
{"input": [...], "output": [...]}, a symbolic dimension as its name.

This is the spec's own validator, of an older onnx (1.12 in bookworm) than
the one compiled into onnxruntime, so it also tells that older consumers
accept the file; running the model is onnxruntime's job
(scripts/onnxrt/check.js).
"""
import json
import sys

import onnx


def dims(value_info):
    return [d.dim_param if d.HasField("dim_param") else d.dim_value
            for d in value_info.type.tensor_type.shape.dim]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    model = onnx.load(sys.argv[1])
    onnx.checker.check_model(model, full_check=True)
    if model.ir_version != 7:
        sys.exit("IR version %d, want 7" % model.ir_version)
    opsets = [(o.domain, o.version) for o in model.opset_import]
    if opsets != [("", 13)]:
        sys.exit("opsets %s, want [('', 13)]" % opsets)
    g = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph
    if len(g.input) != 1 or len(g.output) != 1:
        sys.exit("%d graph inputs and %d outputs, want one of each" % (len(g.input), len(g.output)))
    json.dump({"input": dims(g.input[0]), "output": dims(g.output[0])}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
