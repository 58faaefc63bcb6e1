#!/usr/bin/env python3
"""Generate sdenet_golden.json: PyTorch's values of nn.SDENet, the
time-conditional score net of the score-SDE models, the reference for
TestSDENetGolden.

Run with a Python that has torch (Debian: apt-get install python3-torch):

    python3 sdenet_golden.py > sdenet_golden.json

For each of a VE, a VP and a sub-VP SDE the script builds the net in
float64 with weights drawn from a seeded torch generator (written to the
JSON under the Go model's parameter names, with fourier.W, the fixed
Gaussian Fourier frequencies of scale 16), evaluates the score h(x, t) at
fixed rows x and times t, and the gradients of

    loss = sum(r * h) + 0.5 * sum(h**2)

with respect to every trainable parameter, by autograd.

The net (see nn/sdenet.go):

    c(t)   = log sigma(t)  (VE, sigma(t) = smin * exp(t * log(smax/smin)))
           = t             (VP, sub-VP)
    e(t)   = [sin(2 pi W c), cos(2 pi W c)]
    z_l    = W_l h + b_l + T_l e(t),  h = act(z_l)   for each hidden layer
    h(x,t) = (W_k h + b_k) / sigma(t)  (VE; no division for VP, sub-VP)
"""
import json
import math
import sys

import torch

torch.set_default_dtype(torch.float64)

CASES = [
    ("ve:0.01:5", "softplus"),
    ("vp:0.1:20", "tanh"),
    ("subvp:0.1:20", "silu"),
]
DIM = 3
HIDDEN = [5, 4]
FOURIER_DIM = 4
FOURIER_SCALE = 16.0
ROWS = 6


def act(name, z):
    if name == "softplus":  # log(1 + e^z) without overflow; no threshold
        return torch.clamp(z, min=0) + torch.log1p(torch.exp(-torch.abs(z)))
    if name == "tanh":
        return torch.tanh(z)
    if name == "silu":
        return z * torch.sigmoid(z)
    raise ValueError(name)


def build(gen):
    """Weights under the Go model's names, in its Params order, then fourier.W."""
    sizes = [DIM] + HIDDEN + [DIM]
    ts = {}
    for i in range(1, len(sizes)):
        n = str(2 * (i - 1))
        bound = 1 / math.sqrt(sizes[i - 1])
        ts[n + ".weight"] = (torch.rand(sizes[i], sizes[i - 1], generator=gen) * 2 - 1) * bound
        ts[n + ".bias"] = (torch.rand(sizes[i], generator=gen) * 2 - 1) * bound
    for l, h in enumerate(HIDDEN):
        bound = 1 / math.sqrt(2 * FOURIER_DIM)
        ts["temb.%d.weight" % l] = (torch.rand(h, 2 * FOURIER_DIM, generator=gen) * 2 - 1) * bound
    ts["fourier.W"] = torch.randn(FOURIER_DIM, generator=gen) * FOURIER_SCALE
    return ts


def forward(sde, activation, ts, x, t):
    kind, a, b = sde.split(":")
    a, b = float(a), float(b)
    c = t
    sigma = None
    if kind == "ve":
        sigma = a * torch.exp(t * math.log(b / a))
        c = torch.log(sigma)
    proj = c[:, None] * ts["fourier.W"][None, :] * 2 * math.pi
    emb = torch.cat([torch.sin(proj), torch.cos(proj)], dim=1)
    h = x
    k = len(HIDDEN)
    for l in range(k):
        n = str(2 * l)
        z = h @ ts[n + ".weight"].T + ts[n + ".bias"] + emb @ ts["temb.%d.weight" % l].T
        h = act(activation, z)
    n = str(2 * k)
    out = h @ ts[n + ".weight"].T + ts[n + ".bias"]
    if sigma is not None:
        out = out / sigma[:, None]
    return out


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    gen = torch.Generator().manual_seed(20261201)
    cases = []
    for sde, activation in CASES:
        ts = build(gen)
        for name, v in ts.items():
            v.requires_grad_(name != "fourier.W")
        x = torch.randn(ROWS, DIM, generator=gen)
        r = torch.randn(ROWS, DIM, generator=gen)
        t = torch.tensor([1e-5, 0.01, 0.2, 0.5, 0.8, 1.0])
        h = forward(sde, activation, ts, x, t)
        loss = (r * h).sum() + 0.5 * (h ** 2).sum()
        loss.backward()
        cases.append({
            "sde": sde,
            "activation": activation,
            "dim": DIM,
            "hidden": HIDDEN,
            "tensors": {n: flat(v) for n, v in ts.items()},
            "x": x.tolist(),
            "t": t.tolist(),
            "r": r.tolist(),
            "score": h.detach().tolist(),
            "loss": float(loss),
            "grads": {n: flat(v.grad) for n, v in ts.items() if n != "fourier.W"},
        })
    json.dump({"torch": torch.__version__, "cases": cases}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
