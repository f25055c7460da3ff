#!/usr/bin/python3
"""Keras-2-layout CNN model files for lunet's interop tests.

Usage: /usr/bin/python3 tests/tools/make_keras_cnn.py [OUTDIR]
       (needs python3-h5py, python3-numpy and python3-torch)

TensorFlow is not available here, so these files are NOT written by Keras:
this script writes them with h5py in the exact HDF5 layout tf.keras 2.4
uses for model.save("x.h5") (compare tests/data/keras2-mnist-mlp, which a
real Keras wrote): root attributes keras_version, backend, model_config and
training_config as fixed-length byte strings; /model_weights with
layer_names, backend and keras_version; one group per layer with its
weight_names and datasets /model_weights/<layer>/<layer>/<weight>:0 in
Keras's layouts (Conv2D kernel (kh, kw, in/groups, out), Conv1D (k, in,
out), Conv2DTranspose (kh, kw, out, in), DepthwiseConv2D (kh, kw, in,
depth_multiplier), SeparableConv2D pointwise (1, 1, in*dm, out)). The
configs are what tf.keras 2.4 writes for these layers (every keyword,
initializer dicts, BatchNormalization's axis as [3], InputLayer entries).

Files (OUTDIR, default tests/data/keras2-cnn):
  cnn_sequential.h5   Sequential: Conv2D(8, 3, same, relu) -> BatchNormalization
                      -> MaxPooling2D -> Conv2D(16, 3, relu) -> MaxPooling2D ->
                      Dropout -> Flatten -> Dense(32, relu) -> Dropout ->
                      Dense(10, softmax); compiled (SGD, sparse CE, accuracy)
  cnn_functional.h5   Functional chain: Input -> Conv2D(6, 5, strides 2) ->
                      Conv2D(8, 3, same, dilation 2, tanh) -> AveragePooling2D(same)
                      -> Flatten -> Dense(10, softmax); not compiled
  cnn_layouts.h5      Sequential with every kernel layout: Reshape -> Conv1D(8, 3)
                      -> Reshape -> DepthwiseConv2D(3, dm 2) -> SeparableConv2D(5, 3)
                      -> Conv2DTranspose(3, 3, strides 2) -> GlobalAveragePooling2D
                      -> Dense(4)
  cnn_io.h5           /inputs (12 float32 images, 28x28x1) and
                      /predictions/<file>: the models' outputs computed in
                      float64 (PyTorch double precision, TF's padding rules)
Weights are random (fixed seed); BatchNormalization gets non-trivial moving
statistics so that inference mode is checked.
"""
import json
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_conv_refs as ref  # noqa: E402  (TF geometry and PyTorch forwards)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "data", "keras2-cnn")
RNG = np.random.default_rng(1234)


def glorot():
    return {"class_name": "GlorotUniform", "config": {"seed": None}}


def zeros():
    return {"class_name": "Zeros", "config": {}}


def ones():
    return {"class_name": "Ones", "config": {}}


def base(name):
    return {"name": name, "trainable": True, "dtype": "float32"}


def conv_cfg(cls, name, filters, k, rank=2, strides=1, padding="valid", dilation=1,
             activation="linear", groups=1, **extra):
    c = base(name)
    tup = lambda v: [v] * rank if isinstance(v, int) else list(v)
    if cls in ("DepthwiseConv2D",):
        c.update({"kernel_size": tup(k), "strides": tup(strides), "padding": padding,
                  "data_format": "channels_last", "dilation_rate": tup(dilation),
                  "groups": 1, "activation": activation, "use_bias": True,
                  "bias_initializer": zeros(), "bias_regularizer": None,
                  "activity_regularizer": None, "bias_constraint": None,
                  "depth_multiplier": extra.get("depth_multiplier", 1),
                  "depthwise_initializer": glorot(), "depthwise_regularizer": None,
                  "depthwise_constraint": None})
        return c
    c.update({"filters": filters, "kernel_size": tup(k), "strides": tup(strides),
              "padding": padding, "data_format": "channels_last",
              "dilation_rate": tup(dilation), "groups": groups, "activation": activation,
              "use_bias": True, "bias_initializer": zeros(), "bias_regularizer": None,
              "activity_regularizer": None, "bias_constraint": None})
    if cls == "SeparableConv2D":
        c.update({"depth_multiplier": extra.get("depth_multiplier", 1),
                  "depthwise_initializer": glorot(), "pointwise_initializer": glorot(),
                  "depthwise_regularizer": None, "pointwise_regularizer": None,
                  "depthwise_constraint": None, "pointwise_constraint": None})
    else:
        c.update({"kernel_initializer": glorot(), "kernel_regularizer": None,
                  "kernel_constraint": None})
    if cls == "Conv2DTranspose":
        c["output_padding"] = None
    return c


def pool_cfg(name, size=2, padding="valid"):
    c = base(name)
    c.update({"pool_size": [size, size], "padding": padding, "strides": [size, size],
              "data_format": "channels_last"})
    return c


def dense_cfg(name, units, activation):
    c = base(name)
    c.update({"units": units, "activation": activation, "use_bias": True,
              "kernel_initializer": glorot(), "bias_initializer": zeros(),
              "kernel_regularizer": None, "bias_regularizer": None,
              "activity_regularizer": None, "kernel_constraint": None,
              "bias_constraint": None})
    return c


def bn_cfg(name):
    c = base(name)
    c.update({"axis": [3], "momentum": 0.99, "epsilon": 0.001, "center": True,
              "scale": True, "beta_initializer": zeros(), "gamma_initializer": ones(),
              "moving_mean_initializer": zeros(), "moving_variance_initializer": ones(),
              "beta_regularizer": None, "gamma_regularizer": None,
              "beta_constraint": None, "gamma_constraint": None})
    return c


def dropout_cfg(name, rate):
    c = base(name)
    c.update({"rate": rate, "noise_shape": None, "seed": None})
    return c


def flatten_cfg(name):
    c = base(name)
    c["data_format"] = "channels_last"
    return c


def reshape_cfg(name, shape):
    c = base(name)
    c["target_shape"] = list(shape)
    return c


def gap_cfg(name):
    c = base(name)
    c["data_format"] = "channels_last"
    return c


def input_cfg(name, shape):
    return {"batch_input_shape": [None] + list(shape), "dtype": "float32",
            "sparse": False, "ragged": False, "name": name}


# ---- weights and the float64 forward ----------------------------------------------

def weights_of(cls, cfg, in_shape):
    """Random weights in Keras's order and layouts; returns (names, arrays)."""
    cin = in_shape[-1]
    k = cfg.get("kernel_size")

    def rnd(shape, fan):
        return (RNG.standard_normal(shape) / np.sqrt(fan)).astype(np.float32)

    if cls == "Conv2D" or cls == "Conv1D":
        shape = k + [cin // cfg["groups"], cfg["filters"]]
        return ["kernel", "bias"], [rnd(shape, np.prod(shape[:-1])),
                                    rnd([cfg["filters"]], 4.0)]
    if cls == "Conv2DTranspose":
        shape = k + [cfg["filters"], cin]
        return ["kernel", "bias"], [rnd(shape, np.prod(k) * cin), rnd([cfg["filters"]], 4.0)]
    if cls == "DepthwiseConv2D":
        dm = cfg["depth_multiplier"]
        return ["depthwise_kernel", "bias"], [rnd(k + [cin, dm], np.prod(k)),
                                              rnd([cin * dm], 4.0)]
    if cls == "SeparableConv2D":
        dm = cfg["depth_multiplier"]
        return (["depthwise_kernel", "pointwise_kernel", "bias"],
                [rnd(k + [cin, dm], np.prod(k)), rnd([1, 1, cin * dm, cfg["filters"]], cin * dm),
                 rnd([cfg["filters"]], 4.0)])
    if cls == "Dense":
        return ["kernel", "bias"], [rnd([cin, cfg["units"]], cin), rnd([cfg["units"]], 4.0)]
    if cls == "BatchNormalization":
        return (["gamma", "beta", "moving_mean", "moving_variance"],
                [(1 + 0.2 * RNG.standard_normal(cin)).astype(np.float32),
                 (0.1 * RNG.standard_normal(cin)).astype(np.float32),
                 (0.3 * RNG.standard_normal(cin)).astype(np.float32),
                 (0.5 + RNG.random(cin)).astype(np.float32)])
    return [], []


def forward(cls, cfg, x, ws):
    """One layer in float64 (x: torch double, Keras layout)."""
    w = [torch.tensor(a, dtype=torch.float64) for a in ws]
    if cls in ref.FORWARDS:
        return ref.FORWARDS[cls](cls, x, w, cfg)
    if cls == "BatchNormalization":
        return (x - w[2]) / torch.sqrt(w[3] + cfg["epsilon"]) * w[0] + w[1]
    if cls == "Dense":
        return ref.activation(x @ w[0] + w[1], cfg["activation"])
    if cls == "Flatten":
        return x.reshape(x.shape[0], -1)
    if cls == "Reshape":
        return x.reshape([x.shape[0]] + cfg["target_shape"])
    if cls == "Dropout":
        return x
    raise ValueError(cls)


# ---- models -------------------------------------------------------------------------

def sequential_layers():
    return [
        ("Conv2D", conv_cfg("Conv2D", "conv2d", 8, 3, padding="same", activation="relu")),
        ("BatchNormalization", bn_cfg("batch_normalization")),
        ("MaxPooling2D", pool_cfg("max_pooling2d")),
        ("Conv2D", conv_cfg("Conv2D", "conv2d_1", 16, 3, activation="relu")),
        ("MaxPooling2D", pool_cfg("max_pooling2d_1")),
        ("Dropout", dropout_cfg("dropout", 0.25)),
        ("Flatten", flatten_cfg("flatten")),
        ("Dense", dense_cfg("dense", 32, "relu")),
        ("Dropout", dropout_cfg("dropout_1", 0.5)),
        ("Dense", dense_cfg("dense_1", 10, "softmax")),
    ]


def functional_layers():
    return [
        ("Conv2D", conv_cfg("Conv2D", "conv2d_2", 6, 5, strides=2)),
        ("Conv2D", conv_cfg("Conv2D", "conv2d_3", 8, 3, padding="same", dilation=2,
                            activation="tanh")),
        ("AveragePooling2D", pool_cfg("average_pooling2d", padding="same")),
        ("Flatten", flatten_cfg("flatten_1")),
        ("Dense", dense_cfg("dense_2", 10, "softmax")),
    ]


def layouts_layers():
    c1 = conv_cfg("Conv1D", "conv1d", 8, 3, rank=1, padding="same", activation="relu")
    return [
        ("Reshape", reshape_cfg("reshape", [28, 28])),
        ("Conv1D", c1),
        ("Reshape", reshape_cfg("reshape_1", [28, 8, 1])),
        ("DepthwiseConv2D", conv_cfg("DepthwiseConv2D", "depthwise_conv2d", None, 3,
                                     strides=2, depth_multiplier=2, activation="relu")),
        ("SeparableConv2D", conv_cfg("SeparableConv2D", "separable_conv2d", 5, 3,
                                     padding="same", activation="tanh")),
        ("Conv2DTranspose", conv_cfg("Conv2DTranspose", "conv2d_transpose", 3, 3, strides=2)),
        ("GlobalAveragePooling2D", gap_cfg("global_average_pooling2d")),
        ("Dense", dense_cfg("dense_3", 4, "linear")),
    ]


def build(layers, input_shape, x):
    """Weights for every layer and the float64 outputs on x."""
    h = torch.tensor(x, dtype=torch.float64)
    weights = []
    for cls, cfg in layers:
        names, arrays = weights_of(cls, cfg, list(h.shape[1:]))
        weights.append((cfg["name"], names, arrays))
        h = forward(cls, cfg, h, arrays)
    return weights, h.numpy()


def sequential_config(name, layers, input_shape, input_name):
    entries = [{"class_name": "InputLayer", "config": input_cfg(input_name, input_shape)}]
    entries += [{"class_name": cls, "config": cfg} for cls, cfg in layers]
    return {"class_name": "Sequential", "config": {"name": name, "layers": entries}}


def functional_config(name, layers, input_shape, input_name):
    entries = [{"class_name": "InputLayer", "config": input_cfg(input_name, input_shape),
                "name": input_name, "inbound_nodes": []}]
    prev = input_name
    for cls, cfg in layers:
        entries.append({"class_name": cls, "config": cfg, "name": cfg["name"],
                        "inbound_nodes": [[[prev, 0, 0, {}]]]})
        prev = cfg["name"]
    return {"class_name": "Functional",
            "config": {"name": name, "layers": entries,
                       "input_layers": [[input_name, 0, 0]],
                       "output_layers": [[prev, 0, 0]]}}


TRAINING = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
            "weighted_metrics": None, "loss_weights": None,
            "optimizer_config": {"class_name": "SGD", "config": {
                "name": "SGD", "learning_rate": 0.009999999776482582, "decay": 0.0,
                "momentum": 0.0, "nesterov": False}}}


def write_model(path, config, weights, training=None):
    fixed = np.bytes_
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = fixed(b"2.4.0")
        f.attrs["backend"] = fixed(b"tensorflow")
        f.attrs["model_config"] = fixed(json.dumps(config).encode("utf8"))
        if training:
            f.attrs["training_config"] = fixed(json.dumps(training).encode("utf8"))
        g = f.create_group("model_weights")
        layer_names = [n for n, _, _ in weights]
        g.attrs["layer_names"] = np.array([n.encode("utf8") for n in layer_names])
        g.attrs["backend"] = fixed(b"tensorflow")
        g.attrs["keras_version"] = fixed(b"2.4.0")
        for lname, names, arrays in weights:
            lg = g.create_group(lname)
            full = ["%s/%s:0" % (lname, n) for n in names]
            lg.attrs["weight_names"] = np.array([s.encode("utf8") for s in full])
            for n, a in zip(full, arrays):
                d = lg.create_dataset(n, a.shape, dtype=a.dtype)
                d[...] = a


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    os.makedirs(out, exist_ok=True)
    images = RNG.random((12, 28, 28, 1)).astype(np.float32)
    io = {}
    for fname, layers, shape, cfg_of, input_name, training in [
            ("cnn_sequential", sequential_layers(), [28, 28, 1], sequential_config,
             "conv2d_input", TRAINING),
            ("cnn_functional", functional_layers(), [28, 28, 1], functional_config,
             "input_1", None),
            ("cnn_layouts", layouts_layers(), [28, 28, 1], sequential_config,
             "reshape_input", None)]:
        weights, pred = build(layers, shape, images)
        name = "sequential" if cfg_of is sequential_config else "model"
        write_model(os.path.join(out, fname + ".h5"), cfg_of(name, layers, shape, input_name),
                    weights, training)
        io[fname] = pred
    with h5py.File(os.path.join(out, "cnn_io.h5"), "w") as f:
        f.create_dataset("inputs", data=images)
        for fname, pred in io.items():
            f.create_dataset("predictions/" + fname, data=pred)
    print("wrote", out)


if __name__ == "__main__":
    main()
