"""Writes tiny ONNX encoders for the evaluation tests (run by Debian's /usr/bin/python3 with python3-onnx).

text <dir> <dims> <classes> <words-per-class>: vocab.txt (given, one token per line, first 5 special) must exist;
  writes encoder.onnx (class words embedded near one direction per class) and encoder-random.onnx (N(0,1) table),
  both mean-pooling a Gather over the vocabulary, plus config.json.
image <dir> <side> <dims>: encoder.onnx (quadrant means) / encoder-random.onnx (random projection) as
  Flatten -> MatMul, plus preprocessing.json.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pipeline-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def text_graph(table):
    b, s = "batch", "sequence"
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, [b, s]) for n in ("input_ids", "attention_mask", "token_type_ids")]
    outputs = [
        helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [b, s, table.shape[1]]),
        helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, [b, table.shape[1]]),
    ]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["last_hidden_state", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),
        helper.make_node("Div", ["summed", "count"], ["sentence_embedding"]),
    ]
    inits = [
        numpy_helper.from_array(table.astype(np.float32), "table"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    return helper.make_graph(nodes, "tiny_text_encoder", inputs, outputs, inits)


def image_graph(weights, side):
    inputs = [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 1, side, side])]
    outputs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", weights.shape[1]])]
    nodes = [
        helper.make_node("Flatten", ["pixel_values"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["embedding"]),
    ]
    inits = [numpy_helper.from_array(weights.astype(np.float32), "w")]
    return helper.make_graph(nodes, "tiny_image_encoder", inputs, outputs, inits)


def main():
    mode, out = sys.argv[1], sys.argv[2]
    rng = np.random.RandomState(7)
    if mode == "text":
        dims, classes, per_class = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        with open(os.path.join(out, "vocab.txt"), encoding="utf-8") as f:
            vocab = [line.rstrip("\n") for line in f if line.strip()]
        trained = rng.normal(0, 0.3, (len(vocab), dims))
        trained[:5] = 0
        for c in range(classes):
            for w in range(per_class):
                trained[5 + c * per_class + w, c % dims] += 3.0
        save(text_graph(trained), os.path.join(out, "encoder.onnx"))
        save(text_graph(rng.normal(0, 1, (len(vocab), dims))), os.path.join(out, "encoder-random.onnx"))
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump({"hidden": dims, "maxPositions": 32, "pooling": "mean", "normalization": {"nfkc": True, "lowercase": True, "stripAccents": True}}, f)
    else:
        side, dims = int(sys.argv[3]), int(sys.argv[4])
        # "Pretrained": the first 4 features are the mean brightness of each image quadrant.
        trained = rng.normal(0, 0.01, (side * side, dims))
        half = side // 2
        for q in range(min(4, dims)):
            mask = np.zeros((side, side))
            mask[(q // 2) * half:(q // 2 + 1) * half, (q % 2) * half:(q % 2 + 1) * half] = 1.0 / (half * half)
            trained[:, q] += mask.reshape(-1)
        save(image_graph(trained, side), os.path.join(out, "encoder.onnx"))
        save(image_graph(rng.normal(0, 1, (side * side, dims)), side), os.path.join(out, "encoder-random.onnx"))
        with open(os.path.join(out, "preprocessing.json"), "w") as f:
            json.dump({"channels": 1, "height": side, "width": side, "imageMean": [0.5], "imageStd": [0.5]}, f)


if __name__ == "__main__":
    main()
