#!/usr/bin/python3
"""PyTorch references for lunet's convolution, pooling and spatial layers.

Usage: /usr/bin/python3 tests/tools/gen_conv_refs.py [OUTDIR] [--seed N]
       (needs python3-torch, python3-numpy, python3-h5py)

Writes OUTDIR/cases.json (default tests/data/conv_refs) and OUTDIR/refs.h5.
Each case is a Keras layer (class_name and config, as lunet's Lua
constructors take them) on a random input; refs.h5 holds under /<case>/:
  x        the input (float32, Keras layout: channels_last unless the
           config says channels_first)
  w0, w1.. the layer's weights in Keras's order and layouts (Conv2D kernel
           (kh, kw, in/groups, out), Conv1D (k, in, out), Conv2DTranspose
           (kh, kw, out, in), DepthwiseConv2D (kh, kw, in, multiplier), ...)
  y        the output, computed by PyTorch in float64 from the float32 inputs
  dy       a random output gradient
  dx       dL/dx for L = sum(y * dy)
  g0, g1.. dL/dw for every trainable weight, in the weights' layouts
The output of the layer is rounded to float32 on writing; PyTorch runs in
float64 so the references are exact to float32 rounding. TF's rules are
applied where PyTorch differs: "same" padding puts the odd extra pixel
after (F.pad before an unpadded op), "same" average pooling divides by the
pixels inside the input, a transposed convolution's output is cropped or
zero-extended to Keras's deconv_output_length.

With --seed the shapes stay and the values change: the live test
(tests/lua/test_conv_torch_live.lua) regenerates into a temporary folder
with another seed and checks lunet against those.
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "data", "conv_refs")


# ---- TF geometry ---------------------------------------------------------------

def same_pads(size, k, s, d):
    """TF's "same": (before, after) for one axis."""
    eff = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def pad_spatial(x, pads, value=0.0):
    """x is (N, C, *spatial) float64; pads a list of (before, after) per axis."""
    flat = []
    for b, a in reversed(pads):
        flat += [b, a]
    return F.pad(x, flat, value=value)


def tuple_of(v, rank):
    return list(v) if isinstance(v, (list, tuple)) else [v] * rank


# ---- layouts -------------------------------------------------------------------

def to_first(x, cfg):
    """Keras layout -> (N, C, *spatial)."""
    if cfg.get("data_format") == "channels_first":
        return x
    nd = x.dim()
    return x.permute(0, nd - 1, *range(1, nd - 1))


def from_first(y, cfg):
    if cfg.get("data_format") == "channels_first":
        return y
    nd = y.dim()
    return y.permute(0, *range(2, nd), 1)


def activation(y, name):
    if name in (None, "linear"):
        return y
    if name == "relu":
        return torch.relu(y)
    if name == "tanh":
        return torch.tanh(y)
    if name == "sigmoid":
        return torch.sigmoid(y)
    if name == "softmax":  # Keras: over the last axis
        return torch.softmax(y, dim=-1)
    raise ValueError(name)


# ---- layers ----------------------------------------------------------------------

def conv_nd(xf, kernel, cfg, rank, groups=1):
    """Forward convolution, kernel in torch layout (out, in/groups, *k)."""
    k = list(kernel.shape[2:])
    s = tuple_of(cfg.get("strides", 1), rank)
    d = tuple_of(cfg.get("dilation_rate", 1), rank)
    pad = cfg.get("padding", "valid").lower()
    if pad == "same":
        xf = pad_spatial(xf, [same_pads(xf.shape[2 + i], k[i], s[i], d[i]) for i in range(rank)])
    elif pad == "causal":
        xf = pad_spatial(xf, [((k[0] - 1) * d[0], 0)])
    conv = F.conv1d if rank == 1 else F.conv2d
    return conv(xf, kernel, stride=s, dilation=d, groups=groups)


def conv_forward(cls, x, ws, cfg):
    rank = 1 if cls == "Conv1D" else 2
    xf = to_first(x, cfg)
    kernel = ws[0]  # (*k, in/groups, out)
    perm = (rank + 1, rank) + tuple(range(rank))
    y = conv_nd(xf, kernel.permute(*perm), cfg, rank, cfg.get("groups", 1))
    if cfg.get("use_bias", True):
        y = y + ws[1].reshape(1, -1, *([1] * rank))
    y = from_first(y, cfg)
    return activation(y, cfg.get("activation"))


def deconv_length(n, k, s, d, pad, op):
    eff = (k - 1) * d + 1
    if op is None:
        return n * s if pad == "same" else n * s + max(eff - s, 0)
    p = eff // 2 if pad == "same" else 0
    return (n - 1) * s + eff - 2 * p + op


def conv_transpose_forward(cls, x, ws, cfg):
    rank = 1 if cls == "Conv1DTranspose" else 2
    xf = to_first(x, cfg)
    kernel = ws[0]  # (*k, out, in)
    k = list(kernel.shape[:rank])
    s = tuple_of(cfg.get("strides", 1), rank)
    d = tuple_of(cfg.get("dilation_rate", 1), rank)
    op = cfg.get("output_padding")
    op = tuple_of(op, rank) if op is not None else [None] * rank
    pad = cfg.get("padding", "valid").lower()
    perm = (rank + 1, rank) + tuple(range(rank))  # torch: (in, out, *k)
    convt = F.conv_transpose1d if rank == 1 else F.conv_transpose2d
    full = convt(xf, kernel.permute(*perm), stride=s, dilation=d)
    # TF: the output of length L starts at pad_before of the full one
    for i in range(rank):
        n = xf.shape[2 + i]
        L = deconv_length(n, k[i], s[i], d[i], pad, op[i])
        eff = (k[i] - 1) * d[i] + 1
        before = max((n - 1) * s[i] + eff - L, 0) // 2 if pad == "same" else 0
        have = full.shape[2 + i]
        full = full.narrow(2 + i, before, min(L, have - before))
        if full.shape[2 + i] < L:
            shape = list(full.shape)
            shape[2 + i] = L - full.shape[2 + i]
            full = torch.cat([full, full.new_zeros(shape)], dim=2 + i)
    y = full
    if cfg.get("use_bias", True):
        y = y + ws[1].reshape(1, -1, *([1] * rank))
    return activation(from_first(y, cfg), cfg.get("activation"))


def depthwise_forward(cls, x, ws, cfg):
    xf = to_first(x, cfg)
    kernel = ws[0]  # (kh, kw, in, dm)
    kh, kw, cin, dm = kernel.shape
    wt = kernel.permute(2, 3, 0, 1).reshape(cin * dm, 1, kh, kw)
    y = conv_nd(xf, wt, cfg, 2, groups=cin)
    i = 1
    if cls == "SeparableConv2D":
        pw = ws[1]  # (1, 1, in*dm, filters)
        y = F.conv2d(y, pw.permute(3, 2, 0, 1))
        i = 2
    if cfg.get("use_bias", True):
        y = y + ws[i].reshape(1, -1, 1, 1)
    return activation(from_first(y, cfg), cfg.get("activation"))


def pool_forward(cls, x, ws, cfg):
    rank = 1 if "1D" in cls else 2
    xf = to_first(x, cfg)
    if cls.startswith("Global"):
        dims = tuple(range(2, 2 + rank))
        y = xf.amax(dim=dims, keepdim=True) if "Max" in cls else xf.mean(dim=dims, keepdim=True)
        if cfg.get("keepdims"):
            return from_first(y, cfg)
        return y.reshape(y.shape[0], -1)
    k = tuple_of(cfg.get("pool_size", 2), rank)
    s = tuple_of(cfg.get("strides") or k, rank)
    pads = [(0, 0)] * rank
    if cfg.get("padding", "valid").lower() == "same":
        pads = [same_pads(xf.shape[2 + i], k[i], s[i], 1) for i in range(rank)]
    if "Max" in cls:
        mp = F.max_pool1d if rank == 1 else F.max_pool2d
        y = mp(pad_spatial(xf, pads, value=-float("inf")), k, s)
    else:
        # TF: divide by the pixels inside the input
        ap = F.avg_pool1d if rank == 1 else F.avg_pool2d
        total = ap(pad_spatial(xf, pads), k, s) * float(np.prod(k))
        ones = torch.ones((1, 1) + tuple(xf.shape[2:]), dtype=xf.dtype)
        count = ap(pad_spatial(ones, pads), k, s) * float(np.prod(k))
        y = total / count
    return from_first(y, cfg)


def pairs_of(v, rank, default):
    if v is None:
        v = default
    if isinstance(v, int):
        return [(v, v)] * rank
    if rank == 1:
        return [tuple(v)]
    if isinstance(v[0], int):
        return [(v[0], v[0]), (v[1], v[1])]
    return [tuple(p) for p in v]


def spatial_forward(cls, x, ws, cfg):
    rank = 1 if "1D" in cls else 2
    xf = to_first(x, cfg)
    if cls.startswith("ZeroPadding"):
        y = pad_spatial(xf, pairs_of(cfg.get("padding"), rank, 1))
    elif cls.startswith("Cropping"):
        y = xf
        for i, (b, a) in enumerate(pairs_of(cfg.get("cropping"), rank, 0 if rank == 2 else 1)):
            y = y.narrow(2 + i, b, y.shape[2 + i] - b - a)
    else:  # UpSampling
        size = tuple_of(cfg.get("size", 2), rank)
        if cfg.get("interpolation", "nearest") == "bilinear":
            y = F.interpolate(xf, scale_factor=size, mode="bilinear", align_corners=False)
        else:
            y = xf
            for i, f in enumerate(size):
                y = y.repeat_interleave(f, dim=2 + i)
    return from_first(y, cfg)


def norm_forward(cls, x, ws, cfg):
    """BatchNormalization (training: batch statistics, biased variance) and
    LayerNormalization over the given axes (Keras numbering)."""
    nd = x.dim()
    axes = cfg.get("axis", -1)
    axes = [axes] if isinstance(axes, int) else list(axes)
    axes = sorted(a % nd for a in axes)
    eps = cfg.get("epsilon", 1e-3)
    if cls == "BatchNormalization":
        a = axes[0]
        xm = x.movedim(a, 1)
        y = F.batch_norm(xm, None, None, ws[0], ws[1], training=True, eps=eps)
        return y.movedim(1, a)
    # LayerNormalization over consecutive axes: move them last
    first = axes[0]
    xm = x.movedim(tuple(axes), tuple(range(nd - len(axes), nd)))
    shape = tuple(xm.shape[nd - len(axes):])
    y = F.layer_norm(xm, shape, ws[0], ws[1], eps=eps)
    return y.movedim(tuple(range(nd - len(axes), nd)), tuple(axes))


FORWARDS = {
    "Conv1D": conv_forward, "Conv2D": conv_forward,
    "Conv1DTranspose": conv_transpose_forward, "Conv2DTranspose": conv_transpose_forward,
    "DepthwiseConv2D": depthwise_forward, "SeparableConv2D": depthwise_forward,
}
FORWARDS["BatchNormalization"] = norm_forward
FORWARDS["LayerNormalization"] = norm_forward
for _c in ("ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "UpSampling1D",
           "UpSampling2D"):
    FORWARDS[_c] = spatial_forward
for _c in ("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
           "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
           "GlobalAveragePooling2D"):
    FORWARDS[_c] = pool_forward


# ---- cases -------------------------------------------------------------------------

def conv_case(name, cls, x, cfg, rank=2):
    """Weights shapes of a conv-like layer from its config."""
    cf = cfg.get("data_format") == "channels_first"
    cin = x[1] if cf else x[-1]
    k = tuple_of(cfg["kernel_size"], rank)
    w = []
    if cls in ("Conv1D", "Conv2D"):
        w.append(k + [cin // cfg.get("groups", 1), cfg["filters"]])
    elif cls in ("Conv1DTranspose", "Conv2DTranspose"):
        w.append(k + [cfg["filters"], cin])
    elif cls == "DepthwiseConv2D":
        w.append(k + [cin, cfg.get("depth_multiplier", 1)])
    elif cls == "SeparableConv2D":
        dm = cfg.get("depth_multiplier", 1)
        w.append(k + [cin, dm])
        w.append([1, 1, cin * dm, cfg["filters"]])
    if cfg.get("use_bias", True):
        w.append([cfg.get("filters") or cin * cfg.get("depth_multiplier", 1)])
    return dict(name=name, class_name=cls, config=cfg, input_shape=list(x), weights=w)


CASES = [
    # Conv2D: padding, strides, dilation, groups, formats, odd sizes, batch 1
    conv_case("conv2d_valid", "Conv2D", (2, 7, 6, 3), dict(filters=4, kernel_size=[3, 3])),
    conv_case("conv2d_same_relu", "Conv2D", (2, 7, 6, 3),
              dict(filters=5, kernel_size=[3, 2], padding="same", activation="relu")),
    conv_case("conv2d_same_stride2", "Conv2D", (3, 9, 8, 2),
              dict(filters=4, kernel_size=[3, 3], strides=[2, 2], padding="SAME")),
    conv_case("conv2d_valid_stride_3x2", "Conv2D", (2, 11, 9, 3),
              dict(filters=3, kernel_size=[4, 3], strides=[3, 2])),
    conv_case("conv2d_dilated_same", "Conv2D", (2, 9, 10, 2),
              dict(filters=3, kernel_size=[3, 3], dilation_rate=[2, 3], padding="same")),
    conv_case("conv2d_groups", "Conv2D", (2, 6, 7, 6),
              dict(filters=4, kernel_size=[3, 3], groups=2, padding="same")),
    conv_case("conv2d_groups3_stride", "Conv2D", (2, 8, 7, 6),
              dict(filters=9, kernel_size=[2, 3], groups=3, strides=[2, 1])),
    conv_case("conv2d_first", "Conv2D", (2, 3, 7, 6),
              dict(filters=4, kernel_size=[3, 3], padding="same", data_format="channels_first",
                   activation="tanh")),
    conv_case("conv2d_batch1_nobias", "Conv2D", (1, 5, 5, 2),
              dict(filters=3, kernel_size=[5, 5], use_bias=False)),
    conv_case("conv2d_1x1", "Conv2D", (2, 4, 5, 7), dict(filters=6, kernel_size=[1, 1])),
    conv_case("conv2d_softmax", "Conv2D", (2, 4, 5, 3),
              dict(filters=4, kernel_size=[3, 3], padding="same", activation="softmax")),
    conv_case("conv2d_first_softmax", "Conv2D", (2, 3, 5, 4),
              dict(filters=2, kernel_size=[2, 2], data_format="channels_first",
                   activation="softmax", use_bias=False)),
    conv_case("conv2d_deep", "Conv2D", (1, 4, 3, 14),
              dict(filters=7, kernel_size=[3, 3], padding="same")),
    # stride 1, >= 32 input channels: dx as a gather over the flipped kernel
    conv_case("conv2d_flip_dx", "Conv2D", (1, 4, 4, 32),
              dict(filters=3, kernel_size=[3, 2], padding="same", dilation_rate=[2, 1])),
    conv_case("conv2dt_flip_fwd", "Conv2DTranspose", (1, 3, 3, 2),
              dict(filters=32, kernel_size=[2, 3], padding="same")),
    # Conv1D
    conv_case("conv1d_valid", "Conv1D", (2, 11, 3), dict(filters=4, kernel_size=3), rank=1),
    conv_case("conv1d_same_stride", "Conv1D", (3, 10, 2),
              dict(filters=3, kernel_size=4, strides=3, padding="same"), rank=1),
    conv_case("conv1d_causal_dilated", "Conv1D", (2, 9, 3),
              dict(filters=2, kernel_size=3, dilation_rate=2, padding="causal"), rank=1),
    conv_case("conv1d_first_groups", "Conv1D", (2, 4, 8),
              dict(filters=6, kernel_size=3, groups=2, data_format="channels_first"), rank=1),
    # transposed
    conv_case("conv2dt_valid_s2", "Conv2DTranspose", (2, 4, 3, 3),
              dict(filters=2, kernel_size=[3, 3], strides=[2, 2])),
    conv_case("conv2dt_same_s2", "Conv2DTranspose", (2, 4, 5, 3),
              dict(filters=3, kernel_size=[3, 4], strides=[2, 2], padding="same")),
    conv_case("conv2dt_valid_k1_s3", "Conv2DTranspose", (1, 3, 2, 2),
              dict(filters=2, kernel_size=[1, 2], strides=[3, 3])),
    conv_case("conv2dt_op", "Conv2DTranspose", (2, 3, 4, 2),
              dict(filters=3, kernel_size=[3, 3], strides=[2, 3], padding="same",
                   output_padding=[1, 2])),
    conv_case("conv2dt_dilated_first", "Conv2DTranspose", (2, 2, 4, 3),
              dict(filters=2, kernel_size=[2, 2], dilation_rate=[2, 2],
                   data_format="channels_first", activation="relu")),
    conv_case("conv1dt_same", "Conv1DTranspose", (2, 5, 3),
              dict(filters=2, kernel_size=3, strides=2, padding="same"), rank=1),
    # depthwise and separable
    conv_case("depthwise_same", "DepthwiseConv2D", (2, 6, 5, 3),
              dict(kernel_size=[3, 3], padding="same")),
    conv_case("depthwise_dm2_stride", "DepthwiseConv2D", (2, 7, 8, 3),
              dict(kernel_size=[3, 2], depth_multiplier=2, strides=[2, 2], activation="relu")),
    conv_case("depthwise_dilated_first", "DepthwiseConv2D", (1, 4, 7, 6),
              dict(kernel_size=[2, 3], dilation_rate=[2, 2], data_format="channels_first",
                   padding="same")),
    conv_case("separable_same", "SeparableConv2D", (2, 6, 7, 3),
              dict(filters=4, kernel_size=[3, 3], padding="same", depth_multiplier=2)),
    conv_case("separable_valid_stride", "SeparableConv2D", (2, 9, 8, 4),
              dict(filters=5, kernel_size=[3, 3], strides=[2, 2], activation="relu")),
]


def plain_case(name, cls, x, cfg):
    return dict(name=name, class_name=cls, config=cfg, input_shape=list(x), weights=[])


CASES += [
    plain_case("maxpool2d_valid", "MaxPooling2D", (2, 7, 6, 3), dict(pool_size=[2, 2])),
    plain_case("maxpool2d_same_s1", "MaxPooling2D", (2, 5, 6, 2),
               dict(pool_size=[3, 3], strides=[1, 1], padding="same")),
    plain_case("maxpool2d_same_odd", "MaxPooling2D", (1, 7, 5, 3),
               dict(pool_size=[2, 3], strides=[2, 2], padding="Same")),
    plain_case("maxpool2d_first_overlap", "MaxPooling2D", (2, 3, 7, 7),
               dict(pool_size=[3, 3], strides=[2, 2], data_format="channels_first")),
    plain_case("avgpool2d_valid", "AveragePooling2D", (2, 6, 7, 3), dict(pool_size=[2, 3])),
    plain_case("avgpool2d_same", "AveragePooling2D", (2, 7, 5, 2),
               dict(pool_size=[3, 3], strides=[2, 2], padding="same")),
    plain_case("avgpool2d_same_s1_first", "AveragePooling2D", (1, 2, 5, 4),
               dict(pool_size=[2, 3], strides=[1, 1], padding="same",
                    data_format="channels_first")),
    plain_case("maxpool1d", "MaxPooling1D", (2, 9, 3), dict(pool_size=3, strides=2)),
    plain_case("maxpool1d_same_first", "MaxPooling1D", (2, 3, 8),
               dict(pool_size=3, padding="same", data_format="channels_first")),
    plain_case("avgpool1d_same", "AveragePooling1D", (2, 7, 2),
               dict(pool_size=4, strides=3, padding="same")),
    plain_case("gmaxpool2d", "GlobalMaxPooling2D", (2, 5, 4, 3), {}),
    plain_case("gavgpool2d_keepdims", "GlobalAveragePooling2D", (2, 5, 4, 3), dict(keepdims=True)),
    plain_case("gavgpool2d_first", "GlobalAveragePooling2D", (2, 3, 4, 5),
               dict(data_format="channels_first")),
    plain_case("gmaxpool1d_first_keepdims", "GlobalMaxPooling1D", (2, 3, 6),
               dict(data_format="channels_first", keepdims=True)),
    plain_case("gavgpool1d", "GlobalAveragePooling1D", (3, 5, 2), {}),
    plain_case("zeropad2d_default", "ZeroPadding2D", (2, 3, 4, 2), {}),
    plain_case("zeropad2d_pairs_first", "ZeroPadding2D", (2, 2, 3, 4),
               dict(padding=[[1, 2], [0, 3]], data_format="channels_first")),
    plain_case("zeropad2d_sym", "ZeroPadding2D", (1, 3, 3, 3), dict(padding=[2, 1])),
    plain_case("zeropad1d", "ZeroPadding1D", (2, 4, 3), dict(padding=[2, 1])),
    plain_case("cropping2d", "Cropping2D", (2, 6, 7, 2), dict(cropping=[[1, 2], [3, 0]])),
    plain_case("cropping2d_first", "Cropping2D", (2, 2, 5, 6),
               dict(cropping=[1, 2], data_format="channels_first")),
    plain_case("cropping1d", "Cropping1D", (2, 7, 3), dict(cropping=[2, 1])),
    plain_case("upsampling2d", "UpSampling2D", (2, 3, 2, 3), dict(size=[2, 3])),
    plain_case("upsampling2d_first", "UpSampling2D", (1, 2, 3, 3),
               dict(size=[3, 2], data_format="channels_first")),
    plain_case("upsampling2d_bilinear", "UpSampling2D", (2, 3, 4, 2),
               dict(size=[2, 3], interpolation="bilinear")),
    plain_case("upsampling2d_bilinear_first", "UpSampling2D", (1, 3, 3, 2),
               dict(size=[3, 2], interpolation="bilinear", data_format="channels_first")),
    plain_case("upsampling1d", "UpSampling1D", (2, 4, 3), dict(size=3)),
]


def norm_case(name, cls, x, cfg):
    """gamma, beta (trainable) and for BN the moving statistics."""
    nd = len(x)
    axes = cfg.get("axis", -1)
    axes = sorted(a % nd for a in ([axes] if isinstance(axes, int) else axes))
    shape = [x[a] for a in axes]
    w = [shape, shape] + ([shape, shape] if cls == "BatchNormalization" else [])
    return dict(name=name, class_name=cls, config=cfg, input_shape=list(x), weights=w,
                trainable=2, norm=True)


CASES += [
    norm_case("bn_feature_maps", "BatchNormalization", (3, 4, 5, 6), {}),
    norm_case("bn_channels_first", "BatchNormalization", (2, 5, 3, 4), dict(axis=1)),
    norm_case("bn_middle_axis", "BatchNormalization", (4, 3, 5), dict(axis=1, epsilon=0.01)),
    norm_case("layernorm_last", "LayerNormalization", (3, 7), {}),
    norm_case("layernorm_maps", "LayerNormalization", (2, 3, 4, 5), dict(axis=[1, 2, 3])),
    norm_case("layernorm_middle", "LayerNormalization", (2, 4, 3, 2), dict(axis=[1, 2],
                                                                          epsilon=0.1)),
]


# one input channel: conv_c1.h's direct kernels (forward below 48 filters,
# the kernel gradient always; several gradient chunks in the wide image),
# and "algorithm" forcing either path. Appended last so that the cases above
# keep their random values.
CASES += [
    conv_case("conv2d_c1_f5_same_relu", "Conv2D", (2, 9, 8, 1),
              dict(filters=5, kernel_size=[5, 5], padding="same", activation="relu")),
    conv_case("conv2d_c1_f20_s2x3", "Conv2D", (2, 11, 10, 1),
              dict(filters=20, kernel_size=[3, 4], strides=[2, 3], padding="same")),
    conv_case("conv2d_c1_f47_dilated", "Conv2D", (2, 10, 12, 1),
              dict(filters=47, kernel_size=[3, 3], dilation_rate=[2, 3])),
    conv_case("conv2d_c1_f48_gemm_fwd", "Conv2D", (1, 8, 9, 1),
              dict(filters=48, kernel_size=[7, 7], padding="same")),
    conv_case("conv2d_c1_chapter14", "Conv2D", (1, 12, 28, 1),
              dict(filters=64, kernel_size=[7, 7], padding="same", activation="relu")),
    conv_case("conv2d_c1_lenet", "Conv2D", (2, 16, 28, 1),
              dict(filters=20, kernel_size=[5, 5], padding="same", activation="relu")),
    conv_case("conv2d_c1_first_tanh", "Conv2D", (2, 1, 7, 9),
              dict(filters=12, kernel_size=[3, 3], padding="same", data_format="channels_first",
                   activation="tanh")),
    conv_case("conv2d_c1_wide_chunks", "Conv2D", (1, 12, 200, 1),
              dict(filters=4, kernel_size=[3, 3], padding="same")),
    conv_case("conv2d_c1_direct_64", "Conv2D", (1, 6, 7, 1),
              dict(filters=64, kernel_size=[3, 3], algorithm="direct")),
    conv_case("conv2d_c1_gemm_8", "Conv2D", (2, 6, 7, 1),
              dict(filters=8, kernel_size=[3, 3], padding="same", algorithm="gemm")),
    conv_case("conv1d_c1_causal", "Conv1D", (2, 30, 1),
              dict(filters=9, kernel_size=4, dilation_rate=2, padding="causal"), rank=1),
]


def run_case(case, rng):
    x = rng.standard_normal(case["input_shape"]).astype(np.float32)
    ws = []
    for i, shape in enumerate(case["weights"]):
        if case.get("norm"):  # gamma ~ 1, beta ~ 0, positive variances
            v = rng.standard_normal(shape)
            ws.append((1 + 0.2 * v if i in (0, 3) else 0.3 * v).astype(np.float32))
            if i == 3:
                ws[-1] = np.abs(ws[-1])
            continue
        fan = np.prod(shape[:-1]) if len(shape) > 1 else 1.0
        ws.append((rng.standard_normal(shape) / np.sqrt(fan)).astype(np.float32))
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wts = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in ws]
    y = FORWARDS[case["class_name"]](case["class_name"], xt, wts, case["config"])
    dy = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    (y * torch.tensor(dy, dtype=torch.float64)).sum().backward()
    out = {"x": x, "y": y.detach().numpy().astype(np.float32), "dy": dy,
           "dx": xt.grad.numpy().astype(np.float32)}
    for i, (w, wt) in enumerate(zip(ws, wts)):
        out["w%d" % i] = w
        if i < case.get("trainable", len(ws)):
            out["g%d" % i] = wt.grad.numpy().astype(np.float32)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    torch.use_deterministic_algorithms(True)
    with h5py.File(os.path.join(args.out, "refs.h5"), "w") as f:
        for case in CASES:
            g = f.create_group(case["name"])
            for k, v in run_case(case, rng).items():
                g.create_dataset(k, data=v)
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(CASES, f, indent=1)
        f.write("\n")
    print("wrote %d cases to %s" % (len(CASES), args.out))


if __name__ == "__main__":
    sys.exit(main())
