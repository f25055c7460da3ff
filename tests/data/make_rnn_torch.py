#!/usr/bin/python3
"""Reference forward/backward of PyTorch's nn.RNN, nn.LSTM and nn.GRU for
tests/c/test_layers_rnn.c, in the Keras 2 weight layout lunet uses.

    /usr/bin/python3 tests/data/make_rnn_torch.py [--seed N] [--out FILE]

Writes tests/data/rnn_torch.txt (committed: CI has no torch). Each case
draws a random shape, float32 inputs and weights, runs PyTorch in float64
on those float32 values, and records y, and for the loss sum(r * y) with a
random r: dx and the gradients of kernel, recurrent_kernel and bias, mapped
to Keras's layout:
  - kernel (features, G*units) = weight_ih^T, recurrent_kernel = weight_hh^T;
  - LSTM gates i, f, c, o are PyTorch's i, f, g, o; GRU's z, r, h are
    PyTorch's z, r, n (PyTorch stores r, z, n); PyTorch's GRU is Keras's
    reset_after = true form, bias (2, 3*units) = [b_ih; b_hh];
  - SimpleRNN and LSTM have one bias, b_ih + b_hh (PyTorch's b_hh is set to
    zero here so that the bias gradient is the same for both);
  - go_backwards: PyTorch runs on the reversed sequence; Keras returns the
    outputs in that processing order.
The live CTest test (rnn_torch_live) runs this with a fresh seed into a
temporary file and the C test compares lunet with it; it SKIPs without torch.

With --masked it writes tests/data/rnn_torch_masked.txt instead: right-padded
batches (random lengths in [1, steps], padded steps holding random values)
run through torch.nn.utils.rnn.pack_padded_sequence, recorded with a "mask"
line after "x", as Keras 2 defines the masked layer: a padded step's output
is the previous output (the last valid one; go_backwards: zeros before the
first valid step in processing order), the last output is the state after
the last valid step, padded steps get no gradient (the C test hands the
layer the mask directly).
"""
import argparse
import os
import sys

import numpy as np

try:
    import torch
except ImportError:
    sys.exit(77)

CASES = [
    # name, cell, extra keras spec, torch kwargs
    ("simple_rnn tanh sequences", "simple_rnn", "return_sequences=true", {}),
    ("simple_rnn relu", "simple_rnn", "activation=relu", {"nonlinearity": "relu"}),
    ("simple_rnn go_backwards sequences", "simple_rnn",
     "return_sequences=true go_backwards=true", {}),
    ("lstm sequences", "lstm", "return_sequences=true", {}),
    ("lstm last", "lstm", "", {}),
    ("lstm go_backwards", "lstm", "go_backwards=true", {}),
    ("gru sequences", "gru", "return_sequences=true", {}),
    ("gru last", "gru", "", {}),
    ("gru go_backwards sequences", "gru", "return_sequences=true go_backwards=true", {}),
]

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def f32(a):
    return np.asarray(a, dtype=np.float32)


def to_keras_order(cell, w, u):
    """Rows of a PyTorch gate-stacked tensor in Keras's gate order."""
    if cell == "gru":  # r, z, n -> z, r, n
        return np.concatenate([w[u:2 * u], w[:u], w[2 * u:]], axis=0)
    return w


def run_case(rng, name, cell, spec, kw):
    b, t, d, u = (int(rng.integers(1, 5)), int(rng.integers(1, 7)),
                  int(rng.integers(1, 6)), int(rng.integers(1, 8)))
    g = GATES[cell]
    x = f32(rng.uniform(-1, 1, (b, t, d)))
    w_ih = f32(rng.uniform(-0.6, 0.6, (g * u, d)))
    w_hh = f32(rng.uniform(-0.6, 0.6, (g * u, u)))
    b_ih = f32(rng.uniform(-0.5, 0.5, (g * u,)))
    b_hh = f32(rng.uniform(-0.5, 0.5, (g * u,))) if cell == "gru" else np.zeros(g * u, np.float32)
    seq = "return_sequences=true" in spec
    back = "go_backwards=true" in spec
    mod = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        d, u, batch_first=True, **kw).double()
    with torch.no_grad():
        mod.weight_ih_l0.copy_(torch.from_numpy(w_ih.astype(np.float64)))
        mod.weight_hh_l0.copy_(torch.from_numpy(w_hh.astype(np.float64)))
        mod.bias_ih_l0.copy_(torch.from_numpy(b_ih.astype(np.float64)))
        mod.bias_hh_l0.copy_(torch.from_numpy(b_hh.astype(np.float64)))
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    inp = torch.flip(xt, [1]) if back else xt
    out = mod(inp)[0]
    y = out if seq else out[:, -1, :]
    r = torch.from_numpy(f32(rng.uniform(-1, 1, tuple(y.shape))).astype(np.float64))
    (y * r).sum().backward()
    kern = to_keras_order(cell, w_ih, u).T
    rec = to_keras_order(cell, w_hh, u).T
    dkern = to_keras_order(cell, mod.weight_ih_l0.grad.numpy(), u).T
    drec = to_keras_order(cell, mod.weight_hh_l0.grad.numpy(), u).T
    if cell == "gru":
        bias = np.stack([to_keras_order(cell, b_ih, u), to_keras_order(cell, b_hh, u)])
        dbias = np.stack([to_keras_order(cell, mod.bias_ih_l0.grad.numpy(), u),
                          to_keras_order(cell, mod.bias_hh_l0.grad.numpy(), u)])
    else:
        bias, dbias = b_ih + b_hh, mod.bias_ih_l0.grad.numpy()
    full = ("units=%d %s" % (u, spec)).strip()
    if cell == "lstm":
        full += " unit_forget_bias=false"
    lines = ["case %s" % name, "unit %s" % cell, "spec %s" % full,
             "shape %d %d %d %d" % (b, t, d, u)]
    for key, a in (("x", x), ("kernel", kern), ("recurrent_kernel", rec), ("bias", bias),
                   ("r", r.numpy()), ("y", y.detach().numpy()), ("dx", xt.grad.numpy()),
                   ("dkernel", dkern), ("drecurrent_kernel", drec), ("dbias", dbias)):
        flat = np.asarray(a, dtype=np.float64).ravel()
        lines.append("%s %d %s" % (key, flat.size, " ".join("%.17g" % v for v in flat)))
    lines.append("end")
    return "\n".join(lines) + "\n"


def masked_case(rng, name, cell, seq, back):
    b, t, d, u = (int(rng.integers(1, 6)), int(rng.integers(2, 8)),
                  int(rng.integers(1, 6)), int(rng.integers(1, 8)))
    g = GATES[cell]
    lengths = [int(v) for v in rng.integers(1, t + 1, b)]
    lengths[int(rng.integers(0, b))] = int(rng.integers(1, t))  # one is padded
    x = f32(rng.uniform(-1, 1, (b, t, d)))
    mask = f32([[1.0 if s < n else 0.0 for s in range(t)] for n in lengths])
    w_ih = f32(rng.uniform(-0.6, 0.6, (g * u, d)))
    w_hh = f32(rng.uniform(-0.6, 0.6, (g * u, u)))
    b_ih = f32(rng.uniform(-0.5, 0.5, (g * u,)))
    b_hh = f32(rng.uniform(-0.5, 0.5, (g * u,))) if cell == "gru" else np.zeros(g * u, np.float32)
    mod = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        d, u, batch_first=True).double()
    with torch.no_grad():
        mod.weight_ih_l0.copy_(torch.from_numpy(w_ih.astype(np.float64)))
        mod.weight_hh_l0.copy_(torch.from_numpy(w_hh.astype(np.float64)))
        mod.bias_ih_l0.copy_(torch.from_numpy(b_ih.astype(np.float64)))
        mod.bias_hh_l0.copy_(torch.from_numpy(b_hh.astype(np.float64)))
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    rows = []  # go_backwards: each valid part reversed, still right-padded
    for i, n in enumerate(lengths):
        row = xt[i, :n].flip(0) if back else xt[i, :n]
        rows.append(torch.cat([row, xt[i, n:]]) if n < t else row)
    inp = torch.stack(rows)
    packed = torch.nn.utils.rnn.pack_padded_sequence(inp, torch.tensor(lengths),
                                                     batch_first=True, enforce_sorted=False)
    out, hn = mod(packed)
    if cell == "lstm":
        hn = hn[0]
    out = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=t)[0]
    if not seq:
        y = hn[0]
    else:  # Keras's outputs in processing order
        ys = []
        for i, n in enumerate(lengths):
            if back:  # t - n masked steps first: zeros, then the n valid ones
                ys.append(torch.cat([torch.zeros(t - n, u, dtype=torch.float64), out[i, :n]]))
            else:  # masked steps repeat the last valid output
                idx = torch.tensor([min(s, n - 1) for s in range(t)])
                ys.append(out[i].index_select(0, idx))
        y = torch.stack(ys)
    r = torch.from_numpy(f32(rng.uniform(-1, 1, tuple(y.shape))).astype(np.float64))
    (y * r).sum().backward()
    kern = to_keras_order(cell, w_ih, u).T
    rec = to_keras_order(cell, w_hh, u).T
    dkern = to_keras_order(cell, mod.weight_ih_l0.grad.numpy(), u).T
    drec = to_keras_order(cell, mod.weight_hh_l0.grad.numpy(), u).T
    if cell == "gru":
        bias = np.stack([to_keras_order(cell, b_ih, u), to_keras_order(cell, b_hh, u)])
        dbias = np.stack([to_keras_order(cell, mod.bias_ih_l0.grad.numpy(), u),
                          to_keras_order(cell, mod.bias_hh_l0.grad.numpy(), u)])
    else:
        bias, dbias = b_ih + b_hh, mod.bias_ih_l0.grad.numpy()
    spec = "units=%d" % u + (" return_sequences=true" if seq else "") + \
        (" go_backwards=true" if back else "") + (" unit_forget_bias=false" if cell == "lstm" else "")
    lines = ["case %s lengths %s" % (name, ",".join(map(str, lengths))), "unit %s" % cell,
             "spec %s" % spec, "shape %d %d %d %d" % (b, t, d, u)]
    for key, a in (("x", x), ("mask", mask), ("kernel", kern), ("recurrent_kernel", rec),
                   ("bias", bias), ("r", r.numpy()), ("y", y.detach().numpy()),
                   ("dx", xt.grad.numpy()), ("dkernel", dkern), ("drecurrent_kernel", drec),
                   ("dbias", dbias)):
        flat = np.asarray(a, dtype=np.float64).ravel()
        lines.append("%s %d %s" % (key, flat.size, " ".join("%.17g" % v for v in flat)))
    lines.append("end")
    return "\n".join(lines) + "\n"


MASKED = [(c + (" sequences" if q else " last") + (" go_backwards" if k else ""), c, q, k)
          for c in ("simple_rnn", "lstm", "gru") for q in (True, False) for k in (False, True)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=19)
    p.add_argument("--out", default=None)
    p.add_argument("--masked", action="store_true",
                   help="right-padded batches through pack_padded_sequence")
    p.add_argument("--repeat", type=int, default=2, help="random shapes per case")
    a = p.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(a.seed)
    if a.out is None:
        a.out = os.path.join(os.path.dirname(__file__),
                             "rnn_torch_masked.txt" if a.masked else "rnn_torch.txt")
    if a.masked:
        text = "".join(masked_case(rng, n, c, q, k) for _ in range(a.repeat)
                       for n, c, q, k in MASKED)
    else:
        text = "".join(run_case(rng, n, c, s, k) for _ in range(a.repeat) for n, c, s, k in CASES)
    with open(a.out, "w") as f:
        f.write("# PyTorch %s reference, seed %d (tests/data/make_rnn_torch.py)\n"
                % (torch.__version__, a.seed))
        f.write(text)


if __name__ == "__main__":
    main()
