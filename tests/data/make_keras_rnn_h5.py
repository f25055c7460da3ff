#!/usr/bin/python3
"""A whole-model file in tf.keras 2.4's HDF5 layout with Embedding, LSTM, GRU
and SimpleRNN layers, and its float64 predictions, for tests/lua/test_rnn.lua.

    /usr/bin/python3 tests/data/make_keras_rnn_h5.py   (needs h5py, numpy, torch)

Writes tests/data/keras2-rnn/rnn_tf_keras_2.h5 -- the root attributes
(keras_version 2.4.0, backend, model_config: the JSON tf.keras 2.4 writes for
Embedding(20, 6, input_length=7) -> LSTM(5, return_sequences) ->
GRU(4, return_sequences, go_backwards) -> SimpleRNN(3) -> Dense(2), every
key Keras writes included) and model_weights/<layer>/<layer>/<cell>/<w>:0
datasets with their layer_names / weight_names attributes -- and
rnn_inputs_and_outputs.h5 (/inputs: 5 sequences of indices, /predictions:
what the model gives, computed in float64 by PyTorch's nn.LSTM/GRU/RNN on
the float32 weights mapped from Keras's layout: kernel = weight_ih^T, GRU
gates z, r, h = PyTorch's z, r, n, reset_after bias = [b_ih; b_hh]).
No TensorFlow here: the layout is written by hand after tf.keras 2.4's
saving code (hdf5_format.save_model_to_hdf5).
"""
import json
import os

import h5py
import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras2-rnn")


def init(cls, **cfg):
    return {"class_name": cls, "config": cfg}


def rnn_config(cls, name, units, seq, back, extra):
    cfg = {"name": name, "trainable": True, "dtype": "float32", "return_sequences": seq,
           "return_state": False, "go_backwards": back, "stateful": False, "unroll": False,
           "time_major": False, "units": units, "activation": "tanh"}
    if cls != "SimpleRNN":
        cfg["recurrent_activation"] = "sigmoid"
    cfg.update({"use_bias": True, "kernel_initializer": init("GlorotUniform", seed=None),
                "recurrent_initializer": init("Orthogonal", gain=1.0, seed=None),
                "bias_initializer": init("Zeros")})
    if cls == "LSTM":
        cfg["unit_forget_bias"] = True
    cfg.update({"kernel_regularizer": None, "recurrent_regularizer": None,
                "bias_regularizer": None, "activity_regularizer": None,
                "kernel_constraint": None, "recurrent_constraint": None,
                "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0})
    if cls != "SimpleRNN":
        cfg["implementation"] = 2
    cfg.update(extra)
    return {"class_name": cls, "config": cfg}


def model_config():
    layers = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 7],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "embedding_input"}},
        {"class_name": "Embedding", "config": {
            "name": "embedding", "trainable": True, "batch_input_shape": [None, 7],
            "dtype": "float32", "input_dim": 20, "output_dim": 6,
            "embeddings_initializer": init("RandomUniform", minval=-0.05, maxval=0.05, seed=None),
            "embeddings_regularizer": None, "activity_regularizer": None,
            "embeddings_constraint": None, "mask_zero": False, "input_length": 7}},
        rnn_config("LSTM", "lstm", 5, True, False, {}),
        rnn_config("GRU", "gru", 4, True, True, {"reset_after": True}),
        rnn_config("SimpleRNN", "simple_rnn", 3, False, False, {}),
        {"class_name": "Dense", "config": {
            "name": "dense", "trainable": True, "dtype": "float32", "units": 2,
            "activation": "linear", "use_bias": True,
            "kernel_initializer": init("GlorotUniform", seed=None),
            "bias_initializer": init("Zeros"), "kernel_regularizer": None,
            "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
            "bias_constraint": None}},
    ]
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}


def gru_order(w, u):  # PyTorch r, z, n <-> Keras z, r, h (rows of w)
    return np.concatenate([w[u:2 * u], w[:u], w[2 * u:]], axis=0)


def main():
    rng = np.random.default_rng(15)
    f32 = lambda *s: rng.uniform(-0.7, 0.7, s).astype(np.float32)
    emb = f32(20, 6)
    # PyTorch-layout weights (float32 values), run in float64
    lstm = torch.nn.LSTM(6, 5, batch_first=True).double()
    gru = torch.nn.GRU(5, 4, batch_first=True).double()
    srnn = torch.nn.RNN(4, 3, batch_first=True).double()
    for m in (lstm, gru, srnn):
        for p in m.parameters():
            with torch.no_grad():
                p.copy_(torch.from_numpy(f32(*p.shape).astype(np.float64)))
    for m in (lstm, srnn):  # one Keras bias: keep b_hh zero
        with torch.no_grad():
            m.bias_hh_l0.zero_()
    dense_k, dense_b = f32(3, 2), f32(2)
    x = rng.integers(0, 20, (5, 7))
    with torch.no_grad():
        h = torch.from_numpy(emb.astype(np.float64))[torch.from_numpy(x)]
        h = lstm(h)[0]
        h = gru(torch.flip(h, [1]))[0]  # go_backwards: outputs in processing order
        h = srnn(h)[0][:, -1]
        y = h.numpy() @ dense_k.astype(np.float64) + dense_b.astype(np.float64)

    def np32(t):
        return t.detach().numpy().astype(np.float32)
    weights = {
        "embedding": [("embeddings:0", emb)],
        "lstm": [("lstm_cell/kernel:0", np32(lstm.weight_ih_l0).T),
                 ("lstm_cell/recurrent_kernel:0", np32(lstm.weight_hh_l0).T),
                 ("lstm_cell/bias:0", np32(lstm.bias_ih_l0))],
        "gru": [("gru_cell/kernel:0", gru_order(np32(gru.weight_ih_l0), 4).T),
                ("gru_cell/recurrent_kernel:0", gru_order(np32(gru.weight_hh_l0), 4).T),
                ("gru_cell/bias:0", np.stack([gru_order(np32(gru.bias_ih_l0), 4),
                                             gru_order(np32(gru.bias_hh_l0), 4)]))],
        "simple_rnn": [("simple_rnn_cell/kernel:0", np32(srnn.weight_ih_l0).T),
                       ("simple_rnn_cell/recurrent_kernel:0", np32(srnn.weight_hh_l0).T),
                       ("simple_rnn_cell/bias:0", np32(srnn.bias_ih_l0))],
        "dense": [("kernel:0", dense_k), ("bias:0", dense_b)],
    }
    os.makedirs(OUT, exist_ok=True)
    with h5py.File(os.path.join(OUT, "rnn_tf_keras_2.h5"), "w") as f:
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.4.0"
        f.attrs["model_config"] = json.dumps(model_config()).encode()
        g = f.create_group("model_weights")
        names = ["embedding", "lstm", "gru", "simple_rnn", "dense"]
        g.attrs["layer_names"] = np.array([n.encode() for n in names])
        g.attrs["backend"] = b"tensorflow"
        g.attrs["keras_version"] = b"2.4.0"
        for n in names:
            lg = g.create_group(n)
            lg.attrs["weight_names"] = np.array([("%s/%s" % (n, w)).encode()
                                                 for w, _ in weights[n]])
            for w, v in weights[n]:
                lg.create_dataset("%s/%s" % (n, w), data=np.ascontiguousarray(v, np.float32))
    with h5py.File(os.path.join(OUT, "rnn_inputs_and_outputs.h5"), "w") as f:
        f.create_dataset("inputs", data=x.astype(np.float32))
        f.create_dataset("predictions", data=y)


if __name__ == "__main__":
    main()
