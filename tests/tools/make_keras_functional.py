#!/usr/bin/python3
"""A Keras-2-layout functional model file with branches, merges, two inputs,
two outputs and a shared layer, for lunet's interop tests.

Usage: /usr/bin/python3 tests/tools/make_keras_functional.py [OUTDIR]
       (needs python3-h5py and python3-numpy)

TensorFlow is not available here, so the file is NOT written by Keras: this
script writes it with h5py in the layout tf.keras 2.4 uses for
model.save("x.h5") (as tests/tools/make_keras_cnn.py does for CNNs): root
attributes keras_version, backend, model_config (class_name "Functional",
layers with inbound_nodes, input_layers, output_layers) and training_config
as fixed-length byte strings; /model_weights with layer_names (every layer,
InputLayers and merges too, with empty weight_names) and one group per
layer holding <layer>/<weight>:0 datasets.

The graph (Keras names; a shared layer has one inbound node per call and
its consumers name the node index):

  input_a (6), input_b (6)
  shared = Dense(8, tanh): node 0 on input_a, node 1 on input_b
  subtract([shared@0, shared@1]), multiply([shared@0, shared@1]),
  dot([shared@0, shared@1], axes=1, normalize=True)        (cosine, (None, 1))
  concatenate([subtract, multiply, dot, input_a])          (None, 23)
  hidden = Dense(5, relu)(concatenate)
  main_output = Dense(1, sigmoid)(hidden)
  add([shared@0, shared@1]) -> aux_output = Dense(3, softmax)

Files (OUTDIR, default tests/data/keras2-functional):
  functional_graph.h5  the model, compiled (Adam; losses, loss_weights and
                       metrics keyed by output name)
  functional_io.h5     /inputs/input_a, /inputs/input_b (16 float32 rows
                       each) and /predictions/main_output, aux_output: the
                       outputs computed in float64 with numpy
"""
import json
import os
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "data", "keras2-functional")
RNG = np.random.default_rng(2024)


def base(name):
    return {"name": name, "trainable": True, "dtype": "float32"}


def dense(name, units, activation):
    c = base(name)
    c.update({"units": units, "activation": activation, "use_bias": True,
              "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
              "bias_initializer": {"class_name": "Zeros", "config": {}},
              "kernel_regularizer": None, "bias_regularizer": None,
              "activity_regularizer": None, "kernel_constraint": None,
              "bias_constraint": None})
    return "Dense", c


def merge(cls, name, **extra):
    c = base(name)
    c.update(extra)
    return cls, c


def input_layer(name, n):
    return {"class_name": "InputLayer", "name": name, "inbound_nodes": [],
            "config": {"batch_input_shape": [None, n], "dtype": "float32", "sparse": False,
                       "ragged": False, "name": name}}


def node(*refs):
    return [[r[0], r[1], 0, {}] for r in refs]


def entry(layer, *nodes):
    cls, cfg = layer
    return {"class_name": cls, "config": cfg, "name": cfg["name"], "inbound_nodes": list(nodes)}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    os.makedirs(out, exist_ok=True)
    shared = dense("shared", 8, "tanh")
    hidden = dense("hidden", 5, "relu")
    main_out = dense("main_output", 1, "sigmoid")
    aux_out = dense("aux_output", 3, "softmax")
    s0, s1 = ("shared", 0), ("shared", 1)
    layers = [
        input_layer("input_a", 6),
        input_layer("input_b", 6),
        entry(shared, node(("input_a", 0)), node(("input_b", 0))),
        entry(merge("Subtract", "subtract"), node(s0, s1)),
        entry(merge("Multiply", "multiply"), node(s0, s1)),
        entry(merge("Dot", "dot", axes=1, normalize=True), node(s0, s1)),
        entry(merge("Concatenate", "concatenate", axis=-1),
              node(("subtract", 0), ("multiply", 0), ("dot", 0), ("input_a", 0))),
        entry(hidden, node(("concatenate", 0))),
        entry(merge("Add", "add"), node(s0, s1)),
        entry(main_out, node(("hidden", 0))),
        entry(aux_out, node(("add", 0))),
    ]
    config = {"class_name": "Functional",
              "config": {"name": "two_towers", "layers": layers,
                         "input_layers": [["input_a", 0, 0], ["input_b", 0, 0]],
                         "output_layers": [["main_output", 0, 0], ["aux_output", 0, 0]]}}
    training = {"loss": {"main_output": "binary_crossentropy",
                         "aux_output": "sparse_categorical_crossentropy"},
                "metrics": {"main_output": ["accuracy"]}, "weighted_metrics": None,
                "loss_weights": {"main_output": 1.0, "aux_output": 0.2},
                "optimizer_config": {"class_name": "Adam", "config": {
                    "name": "Adam", "learning_rate": 0.0010000000474974513, "decay": 0.0,
                    "beta_1": 0.8999999761581421, "beta_2": 0.9990000128746033,
                    "epsilon": 1e-07, "amsgrad": False}}}

    def rnd(shape):
        return (RNG.standard_normal(shape) * 0.5).astype(np.float32)

    w = {"shared": (rnd((6, 8)), rnd((8,))), "hidden": (rnd((23, 5)), rnd((5,))),
         "main_output": (rnd((5, 1)), rnd((1,))), "aux_output": (rnd((8, 3)), rnd((3,)))}

    a = RNG.standard_normal((16, 6)).astype(np.float32)
    b = RNG.standard_normal((16, 6)).astype(np.float32)

    # the float64 forward
    def lin(name, x):
        k, bias = w[name]
        return x @ k.astype(np.float64) + bias.astype(np.float64)

    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    h0, h1 = np.tanh(lin("shared", a64)), np.tanh(lin("shared", b64))

    def l2n(x):
        return x / np.sqrt(np.maximum((x * x).sum(1, keepdims=True), 1e-12))

    dot = (l2n(h0) * l2n(h1)).sum(1, keepdims=True)
    cat = np.concatenate([h0 - h1, h0 * h1, dot, a64], 1)
    hid = np.maximum(lin("hidden", cat), 0)
    main = 1 / (1 + np.exp(-lin("main_output", hid)))
    z = lin("aux_output", h0 + h1)
    z = np.exp(z - z.max(1, keepdims=True))
    aux = z / z.sum(1, keepdims=True)

    fixed = np.bytes_
    with h5py.File(os.path.join(out, "functional_graph.h5"), "w") as f:
        f.attrs["keras_version"] = fixed(b"2.4.0")
        f.attrs["backend"] = fixed(b"tensorflow")
        f.attrs["model_config"] = fixed(json.dumps(config).encode("utf8"))
        f.attrs["training_config"] = fixed(json.dumps(training).encode("utf8"))
        g = f.create_group("model_weights")
        names = [e["name"] for e in layers]
        g.attrs["layer_names"] = np.array([n.encode("utf8") for n in names])
        g.attrs["backend"] = fixed(b"tensorflow")
        g.attrs["keras_version"] = fixed(b"2.4.0")
        for n in names:
            lg = g.create_group(n)
            full = ["%s/%s:0" % (n, k) for k in ("kernel", "bias")] if n in w else []
            lg.attrs["weight_names"] = np.array([s.encode("utf8") for s in full])
            for s, arr in zip(full, w.get(n, ())):
                lg.create_dataset(s, data=arr)
    with h5py.File(os.path.join(out, "functional_io.h5"), "w") as f:
        f.create_dataset("inputs/input_a", data=a)
        f.create_dataset("inputs/input_b", data=b)
        f.create_dataset("predictions/main_output", data=main)
        f.create_dataset("predictions/aux_output", data=aux)
    print("wrote", out)


if __name__ == "__main__":
    main()
