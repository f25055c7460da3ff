"""bench/torch_layer_steps.py -- PyTorch's side of bench/bench_layer_steps.lua:
the same layers and shapes (its layouts: NCHW, NCL), one training step each
(forward, then backward of a fixed dy with the input's and the parameters'
gradients), the best of 5 loops of at least 50 ms; then the losses with
their gradient.

  /usr/bin/python3 bench/torch_layer_steps.py [THREADS]

Prints "torch <name> <microseconds>" per layer."""
import sys
import time

import torch

nn = torch.nn
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
torch.manual_seed(1)


class Out0(nn.Module):
    """A recurrent layer's last output (as Keras's return_sequences=False)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)[0][:, -1]


class Lambda(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


def best_of(step):
    """The best time of one call of step: loops of at least 50 ms, the best of 5."""
    step()
    n, t0 = 1, time.perf_counter()
    while time.perf_counter() - t0 < 0.05:
        step()
        n += 1
    best = float("inf")
    for _ in range(5):
        t1 = time.perf_counter()
        for _ in range(n):
            step()
        best = min(best, (time.perf_counter() - t1) / n)
    return best


def report(name, seconds):
    print("torch %s %.2f" % (name, seconds * 1e6), flush=True)


def bench(name, mod, shape, x=None):
    if x is None:
        x = torch.randn(*shape, requires_grad=True)
    dy = torch.randn_like(mod(x))

    def step():
        if x.requires_grad:
            x.grad = None
        for p in mod.parameters():
            p.grad = None
        mod(x).backward(dy)

    report(name, best_of(step))


bench("dense_32x512_512", nn.Linear(512, 512), (32, 512))
bench("layernorm_32x512", nn.LayerNorm(512), (32, 512))
bench("layernorm_256x512", nn.LayerNorm(512), (256, 512))
bench("batchnorm_32x512", nn.BatchNorm1d(512), (32, 512))
bench("batchnorm_32x14x14x64", nn.BatchNorm2d(64), (32, 64, 14, 14))
bench("dropout_32x512", nn.Dropout(0.5), (32, 512))
bench("alphadropout_32x512", nn.AlphaDropout(0.1), (32, 512))
bench("gaussnoise_32x512", Lambda(lambda x: x + 0.1 * torch.randn_like(x)), (32, 512))
bench("prelu_32x512", nn.PReLU(512), (32, 512))
bench("relu_32x512", nn.ReLU(), (32, 512))
bench("leakyrelu_32x512", nn.LeakyReLU(0.3), (32, 512))
bench("elu_32x512", nn.ELU(), (32, 512))
bench("tanh_32x512", nn.Tanh(), (32, 512))
bench("sigmoid_32x512", nn.Sigmoid(), (32, 512))
bench("gelu_32x512", nn.GELU(), (32, 512))
bench("swish_32x512", nn.SiLU(), (32, 512))
bench("softplus_32x512", nn.Softplus(), (32, 512))
bench("softmax_32x1000", nn.Softmax(dim=-1), (32, 1000))
bench("permute_32x50x64", Lambda(lambda x: x.permute(0, 2, 1).contiguous()), (32, 50, 64))
bench("embedding_32x50_10k_64", nn.Embedding(10000, 64), None, torch.randint(0, 10000, (32, 50)))
bench("timedist_dense_32x50x64_64", nn.Linear(64, 64), (32, 50, 64))
bench("conv1d_32x100x64_k3_64", nn.Conv1d(64, 64, 3, padding=1), (32, 64, 100))
bench("maxpool1d_32x100x64", nn.MaxPool1d(2), (32, 64, 100))
bench("gmp1d_32x100x64", Lambda(lambda x: x.amax(dim=1)), (32, 100, 64))
bench("conv2d_32x28x28x32_k3_32", nn.Conv2d(32, 32, 3, padding=1), (32, 32, 28, 28))
bench("dwconv_32x14x14x64_k3", nn.Conv2d(64, 64, 3, padding=1, groups=64), (32, 64, 14, 14))
bench("sepconv_32x14x14x64_k3_64",
      nn.Sequential(nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False), nn.Conv2d(64, 64, 1)),
      (32, 64, 14, 14))
bench("convT_32x14x14x32_k3_s2_32",
      nn.ConvTranspose2d(32, 32, 3, stride=2, padding=1, output_padding=1), (32, 32, 14, 14))
bench("maxpool2d_32x28x28x32", nn.MaxPool2d(2), (32, 32, 28, 28))
bench("avgpool2d_32x28x28x32", nn.AvgPool2d(2), (32, 32, 28, 28))
bench("gap2d_32x14x14x64", nn.AdaptiveAvgPool2d(1), (32, 64, 14, 14))
bench("upsample2d_32x14x14x32", nn.Upsample(scale_factor=2), (32, 32, 14, 14))
bench("zeropad2d_32x28x28x32", nn.ZeroPad2d(1), (32, 32, 28, 28))
bench("simplernn64_32x50x32", Out0(nn.RNN(32, 64, batch_first=True)), (32, 50, 32))
bench("lstm64_32x50x32", Out0(nn.LSTM(32, 64, batch_first=True)), (32, 50, 32))
bench("gru64_32x50x32", Out0(nn.GRU(32, 64, batch_first=True)), (32, 50, 32))


def bench_loss(name, fn, pred):
    def step():
        pred.grad = None
        fn().backward()

    report(name, best_of(step))


F = torch.nn.functional
for rows, cols in ((32, 10), (256, 1000)):
    tag = "%dx%d" % (rows, cols)
    z = torch.randn(rows, cols, requires_grad=True)
    labels = torch.randint(0, cols, (rows,))
    onehot = F.one_hot(labels, cols).float()
    bits = (torch.rand(rows, cols) > 0.5).float()
    s = torch.sigmoid(z.detach()).requires_grad_()
    bench_loss("loss_scce_logits_" + tag, lambda: F.cross_entropy(z, labels), z)
    bench_loss("loss_cce_logits_" + tag, lambda: F.cross_entropy(z, onehot), z)
    bench_loss("loss_bce_logits_" + tag, lambda: F.binary_cross_entropy_with_logits(z, bits), z)
    bench_loss("loss_bce_probs_" + tag, lambda: F.binary_cross_entropy(s, bits), s)
    bench_loss("loss_mse_" + tag, lambda: F.mse_loss(z, bits), z)
