#!/usr/bin/python3
"""Rewrite a lunet model file into the optimizer-state layout of another
Keras version (tests/lua/test_hostile_keras_layouts.lua; Keras itself is
not installable here). Usage:

    keras_optimizer_layouts.py IN.h5 OUT.h5 LAYOUT

IN.h5 is a whole-model file lunet wrote after training (the current,
tf.keras 2.4 layout). OUT.h5 gets the same model and weights with the root
attributes Keras wrote (keras_version, backend; no lunet_* attributes) and
/optimizer_weights laid out as LAYOUT says:

  keras24            tf.keras 2.4: the layout as it is (names kept)
  keras23            Keras 2.3.1: names as Keras 2.3 gave them, same layout
  keras22_no_iter    Keras <= 2.2 RMSprop/Adagrad/Adadelta: no iteration count
  keras22_adam_vhat  Keras 2.1.3-2.3 Adam, amsgrad off: n extra (1,) vhats
  keras22_sgd_m0     Keras 2.2 SGD at momentum 0: n momentum slots (Keras
                     stored v = 0*m - lr*g there, unused by the next step)
  keras22_no_global  Keras 2.2 Nadam: no m_schedule after the count
  keras22_extra      an unknown extra dataset (no mapping exists)
  keras22_shape      a slot of the wrong shape (Keras 2.2 file)
  keras22_neg_iter   iteration count -3 (Keras 2.2 file)
  keras24_missing    the last slot dropped (tf.keras 2.4 file)
  keras24_shape      a slot of the wrong shape (tf.keras 2.4 file)
  keras24_neg_iter   iteration count -3 (tf.keras 2.4 file)
  keras24_frac_iter  iteration count 2.5 stored as float64 (tf.keras 2.4)
  keras24_big_iter   iteration count 2**33 + 7 as int64 (tf.keras 2.4)
  keras24_float_iter iteration count 12 stored as float64 (tf.keras 2.4)
  lunet_missing      the last slot dropped, lunet's own attributes kept
"""
import json
import sys

import h5py
import numpy as np

VERSION = {"keras24": "2.4.0", "keras23": "2.3.1", "keras22": "2.2.4", "lunet": None}


def read_state(f):
    g = f["optimizer_weights"]
    names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
    return names, [np.array(g[n]) for n in names]


def write_state(f, names, values):
    if "optimizer_weights" in f:
        del f["optimizer_weights"]
    g = f.create_group("optimizer_weights")
    g.attrs["weight_names"] = np.array([n.encode() for n in names])
    for n, v in zip(names, values):
        g.create_dataset(n, data=v)


def keras22_names(names, opt):
    """Keras 2.2 named the count "<Opt>/iterations:0" and the slots
    "training/<Opt>/Variable[_k]:0"."""
    out = []
    for k, n in enumerate(names):
        if n.endswith("/iter:0"):
            out.append(opt + "/iterations:0")
        else:
            out.append("training/%s/Variable%s:0" % (opt, "" if k == 0 else "_%d" % k))
    return out


def main():
    src, dst, layout = sys.argv[1], sys.argv[2], sys.argv[3]
    with h5py.File(src, "r") as f_in, h5py.File(dst, "w") as f:
        for k in f_in.keys():
            f_in.copy(k, f)
        for k, v in f_in.attrs.items():
            f.attrs[k] = v
        era = layout.split("_")[0]
        if era != "lunet":
            for k in list(f.attrs.keys()):
                if k.startswith("lunet_"):
                    del f.attrs[k]
            f.attrs["keras_version"] = VERSION[era].encode()
            f.attrs["backend"] = b"tensorflow"
        names, values = read_state(f)
        opt = names[0].split("/")[0]
        kind = layout[len(era) + 1:] if "_" in layout else ""
        if era == "keras22" or era == "keras23":
            tc = json.loads(f.attrs["training_config"])
            cfg = tc["optimizer_config"]["config"]
            if "learning_rate" in cfg and not isinstance(cfg["learning_rate"], dict):
                cfg["lr"] = cfg.pop("learning_rate")
            f.attrs["training_config"] = json.dumps(tc).encode()
        if kind == "no_iter":
            names, values = names[1:], values[1:]
        elif kind == "adam_vhat":
            nslots = len(values) - 1
            n = nslots // 2
            names = names + ["vhat_%d" % i for i in range(n)]
            values = values + [np.zeros((1,), np.float32) for _ in range(n)]
        elif kind == "sgd_m0":
            var_shapes = [np.array(f["model_weights"][p]).shape for p in trainable_paths(f)]
            names = names + ["moment_%d" % i for i in range(len(var_shapes))]
            values = values + [np.full(s, -0.25, np.float32) for s in var_shapes]
        elif kind == "no_global":
            names, values = names[:1] + names[2:], values[:1] + values[2:]
        elif kind == "extra":
            names, values = names + ["mystery"], values + [np.ones((7,), np.float32)]
        elif kind == "shape":
            values[-1] = np.zeros(values[-1].shape + (2,), np.float32)
        elif kind == "neg_iter":
            values[0] = np.array(-3, np.int64)
        elif kind == "missing":
            names, values = names[:-1], values[:-1]
        elif kind == "frac_iter":
            values[0] = np.array(2.5, np.float64)
        elif kind == "big_iter":
            values[0] = np.array(2 ** 33 + 7, np.int64)
        elif kind == "float_iter":
            values[0] = np.array(12.0, np.float64)
        elif kind != "":
            raise SystemExit("unknown layout " + layout)
        if era in ("keras22", "keras23"):
            names = keras22_names(names, opt)
        write_state(f, names, values)


def trainable_paths(f):
    """Dataset paths (under model_weights) of the trainable weights, in
    order: kernels and biases of Dense, gamma and beta of BN."""
    out = []
    mw = f["model_weights"]
    for layer in mw.attrs["layer_names"]:
        layer = layer.decode() if isinstance(layer, bytes) else layer
        for w in mw[layer].attrs.get("weight_names", []):
            w = w.decode() if isinstance(w, bytes) else w
            if "moving_" not in w:
                out.append(layer + "/" + w)
    return out


if __name__ == "__main__":
    main()
