"""Evaluates an ONNX graph with numpy only, following the ONNX operator specs (opset 17).

Stands in for a Python user without onnxruntime: Debian serves python3-onnx 1.12 (no onnx.reference) and no
onnxruntime. The graph is loaded by onnx itself and its initializers decoded by onnx.numpy_helper, so a wrong raw
layout, name or attribute shows up here independently of ONNX Runtime and of the .NET code that wrote it.

usage: numpy_onnx_eval.py cases.json results.json
cases.json: [{"model": "path.onnx", "inputs": {"name": {"dtype": "int64"|"float32", "shape": [...], "data": [...]}}}]
results.json: [{"output name": {"shape": [...], "data": [...flat...]}}], one per case
"""
import json
import math
import sys

import numpy as np
import onnx
from onnx import numpy_helper

_erf = np.vectorize(math.erf, otypes=[np.float64])

DTYPES = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def run_node(node, env):
    x = [env[i] if i else None for i in node.input]
    a = attrs(node)
    op = node.op_type
    if op == "Identity":
        return [x[0]]
    if op == "Cast":
        return [x[0].astype(DTYPES[a["to"]])]
    if op == "Unsqueeze":
        out = x[0]
        axes = sorted(int(v) if v >= 0 else int(v) + out.ndim + len(x[1]) for v in x[1])
        for axis in axes:
            out = np.expand_dims(out, axis)
        return [out]
    if op in ("Add", "Sub", "Mul", "Div", "Max"):
        fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Max": np.maximum}[op]
        out = x[0]
        for other in x[1:]:
            out = fn(out, other)
        return [out.astype(x[0].dtype)]
    if op == "Gather":
        return [np.take(x[0], x[1], axis=a.get("axis", 0))]
    if op == "Shape":
        return [np.array(x[0].shape, dtype=np.int64)]
    if op == "Range":
        return [np.arange(x[0], x[1], x[2], dtype=x[0].dtype)]
    if op == "LayerNormalization":
        axis = a.get("axis", -1)
        eps = a.get("epsilon", 1e-5)
        axes = tuple(range(axis if axis >= 0 else x[0].ndim + axis, x[0].ndim))
        mean = x[0].mean(axis=axes, keepdims=True)
        var = ((x[0] - mean) ** 2).mean(axis=axes, keepdims=True)
        y = (x[0] - mean) / np.sqrt(var + np.float32(eps)) * x[1]
        return [(y + x[2] if x[2] is not None else y).astype(np.float32)]
    if op == "MatMul":
        return [np.matmul(x[0], x[1])]
    if op == "Reshape":
        shape = [x[0].shape[i] if d == 0 and not a.get("allowzero", 0) else int(d) for i, d in enumerate(x[1])]
        return [x[0].reshape(shape)]
    if op == "Transpose":
        return [np.transpose(x[0], a.get("perm"))]
    if op == "Softmax":
        axis = a.get("axis", -1)
        e = np.exp(x[0] - x[0].max(axis=axis, keepdims=True))
        return [(e / e.sum(axis=axis, keepdims=True)).astype(x[0].dtype)]
    if op == "Erf":
        return [_erf(x[0].astype(np.float64)).astype(x[0].dtype)]
    if op == "ReduceSum":
        axes = tuple(int(v) for v in x[1]) if len(x) > 1 and x[1] is not None else None
        return [x[0].sum(axis=axes, keepdims=bool(a.get("keepdims", 1))).astype(x[0].dtype)]
    if op == "ReduceL2":
        axes = tuple(a["axes"]) if "axes" in a else None
        return [np.sqrt((x[0].astype(np.float64) ** 2).sum(axis=axes, keepdims=bool(a.get("keepdims", 1)))).astype(x[0].dtype)]
    raise NotImplementedError(f"numpy_onnx_eval: operator {op} is not implemented")


def evaluate(model, inputs):
    graph = model.graph
    env = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for name, value in inputs.items():
        env[name] = np.array(value["data"], dtype=value["dtype"]).reshape(value["shape"])
    for node in graph.node:  # ONNX requires topological order
        for name, value in zip(node.output, run_node(node, env)):
            env[name] = value
    return {o.name: {"shape": list(env[o.name].shape), "data": env[o.name].astype(np.float64).ravel().tolist()} for o in graph.output}


def main(cases_path, results_path):
    with open(cases_path) as f:
        cases = json.load(f)
    models = {}
    results = []
    for case in cases:
        if case["model"] not in models:
            models[case["model"]] = onnx.load(case["model"])
        results.append(evaluate(models[case["model"]], case["inputs"]))
    with open(results_path, "w") as f:
        json.dump(results, f)
    print("ok", len(results), "cases")


if __name__ == "__main__":
    main(*sys.argv[1:3])
