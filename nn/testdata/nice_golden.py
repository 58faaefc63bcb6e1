#!/usr/bin/env python3
"""Generate nice_golden.json: PyTorch's values of nn.NICE, the NICE flow
as an energy, the reference for TestNICEGolden (nn) and
TestNICEObjectivesGolden (ssm).

Run with a Python that has torch (Debian: apt-get install python3-torch),
from this directory:

    /usr/bin/python3 nice_golden.py > nice_golden.json

The flow (see nn/nice.go), in float64, with D = 6, four coupling layers
whose nets are Linear(3, 8), softplus, Linear(8, 8), softplus, Linear(8, 3):

    a, b = x[:, 0::2], x[:, 1::2]          (the even and the odd columns)
    b = b + m1(a);  a = a + m2(b);  b = b + m3(a);  a = a + m4(b)
    z = [a, b] * exp(s)
    E(x) = -log p(x) = 0.5 |z|^2 + (D/2) log(2 pi) - sum(s)

Weights are drawn from a seeded torch generator (U(-1/sqrt(in), 1/sqrt(in))
as PyTorch initialises a Linear layer; the log-scales s from N(0, 0.3^2)
rather than the reference's zeros, so that the log-determinant is not
trivially 0), and written under the Go model's parameter names, which are
the reference module's state_dict names. At fixed rows x, one fixed
Gaussian projection v per row and fixed noise eps the script computes by
autograd:

    energy   E(x_b)
    score    -dE/dx
    hvp      (d^2 E/dx^2) v_b      (the Hessian of the energy along v)
    latent   z = f(x)

and for each objective of package ssm on this energy (s = -dE/dx) the
per-sample terms, their mean (the loss) and the gradient of the loss with
respect to every parameter:

    ssm      [0.5 (v.s)^2, v.(ds/dx) v]
    ssm-vr   [0.5 |s|^2,   v.(ds/dx) v]
    sm       [0.5 |s|^2,   tr(ds/dx)]
    dsm      0.5 |sigma eps + sigma^2 s(x + sigma eps)|^2   (sigma = 0.3)
    grad     E(x)                                            (MLE: the mean energy)
    approx-bp [0.5 |dE/dx|^2, -sum(d)]   d: approximate backprop's diag of
             d^2 E/dx^2 by the reference's layer rules (see approx_bp),
             also written alone as approx_diag
"""
import json
import math
import sys

import torch

torch.set_default_dtype(torch.float64)

DIM = 6
HIDDEN = [8, 8]
COUPLINGS = 4
ROWS = 5
SIGMA = 0.3


def softplus(z):  # log(1 + e^z) without overflow; no threshold
    return torch.clamp(z, min=0) + torch.log1p(torch.exp(-torch.abs(z)))


def build(gen):
    """Parameters under the Go model's names, in its Params order."""
    half = DIM // 2
    sizes = [half] + HIDDEN + [half]
    ts = {}
    for k in range(1, COUPLINGS + 1):
        for j in range(1, len(sizes)):
            name = "nice%d.dense%d." % (k, j)
            bound = 1 / math.sqrt(sizes[j - 1])
            ts[name + "weight"] = (torch.rand(sizes[j], sizes[j - 1], generator=gen) * 2 - 1) * bound
            ts[name + "bias"] = (torch.rand(sizes[j], generator=gen) * 2 - 1) * bound
    ts["scale.scales"] = torch.randn(1, DIM, generator=gen) * 0.3
    return ts


def coupling_net(ts, k, h):
    n = len(HIDDEN) + 1
    for j in range(1, n + 1):
        name = "nice%d.dense%d." % (k, j)
        h = h @ ts[name + "weight"].T + ts[name + "bias"]
        if j < n:
            h = softplus(h)
    return h


def latent(ts, x):
    a, b = x[:, 0::2], x[:, 1::2]
    for k in range(1, COUPLINGS + 1):
        if k % 2 == 1:
            b = b + coupling_net(ts, k, a)
        else:
            a = a + coupling_net(ts, k, b)
    return torch.cat([a, b], dim=1) * torch.exp(ts["scale.scales"])


def energy(ts, x):
    z = latent(ts, x)
    return 0.5 * (z ** 2).sum(1) + 0.5 * DIM * math.log(2 * math.pi) - ts["scale.scales"].sum()


def score(ts, x):
    """s = -dE/dx, differentiable (create_graph)."""
    (g,) = torch.autograd.grad(energy(ts, x).sum(), x, create_graph=True)
    return -g


def terms(name, ts, x, v, eps):
    """Per-sample terms of objective name, B x 2 (B x 1 for dsm and grad)."""
    if name == "grad":
        return energy(ts, x)[:, None]
    if name == "approx-bp":
        g, d = approx_bp(ts, x)
        return torch.stack([0.5 * (g ** 2).sum(1), -d.sum(1)], dim=1)
    if name == "dsm":
        xt = (x + SIGMA * eps).detach().requires_grad_(True)
        s = score(ts, xt)
        return (0.5 * ((SIGMA * eps + SIGMA ** 2 * s) ** 2).sum(1))[:, None]
    xr = x.detach().requires_grad_(True)
    s = score(ts, xr)
    if name == "sm":
        tr = 0
        for i in range(DIM):
            (row,) = torch.autograd.grad(s[:, i].sum(), xr, create_graph=True)
            tr = tr + row[:, i]
        return torch.stack([0.5 * (s ** 2).sum(1), tr], dim=1)
    (jv,) = torch.autograd.grad((s * v).sum(), xr, create_graph=True)
    second = (jv * v).sum(1)
    first = 0.5 * (s * v).sum(1) ** 2 if name == "ssm" else 0.5 * (s ** 2).sum(1)
    return torch.stack([first, second], dim=1)


def approx_bp(ts, x):
    """Approximate backprop of the Hessian diagonal (Kingma & LeCun 2010)
    layer by layer, by the rules of the reference's hand-written NICE
    (models/nice_approxbp.py, grads_backward): each layer maps (g, h), the
    gradient and the approximate Hessian diagonal of log p with respect to
    its output, to those with respect to its input, keeping diagonals only:

        linear y = x W^T:        g <- g W,  h <- h (W*W)
        softplus y = sp(z):      g <- g sig(z),  h <- g sig'(z) + h sig(z)^2
        scaling y = x exp(s):    g <- g exp(s),  h <- h exp(2s)
        coupling b' = b + m(a):  (g_a, h_a) += m's pull-back of (g_b', h_b')

    starting from g = -z, h = -1 at the latent point z. Returns grad E and
    the approximate diag of the Hessian of E (the negatives)."""
    a, b = x[:, 0::2], x[:, 1::2]
    ins = []  # the input of each coupling net
    for k in range(1, COUPLINGS + 1):
        ins.append(a if k % 2 == 1 else b)
        if k % 2 == 1:
            b = b + coupling_net(ts, k, a)
        else:
            a = a + coupling_net(ts, k, b)
    es = torch.exp(ts["scale.scales"])
    z = torch.cat([a, b], dim=1) * es
    g, h = -z * es, -torch.ones_like(z) * es * es
    half = DIM // 2
    ga, gb, ha, hb = g[:, :half], g[:, half:], h[:, :half], h[:, half:]
    n = len(HIDDEN) + 1
    for k in range(COUPLINGS, 0, -1):
        go, ho = (gb, hb) if k % 2 == 1 else (ga, ha)
        pre = []  # pre-activations of the net at its input
        u = ins[k - 1]
        for j in range(1, n + 1):
            name = "nice%d.dense%d." % (k, j)
            u = u @ ts[name + "weight"].T + ts[name + "bias"]
            if j < n:
                pre.append(u)
                u = softplus(u)
        for j in range(n, 0, -1):
            w = ts["nice%d.dense%d.weight" % (k, j)]
            go, ho = go @ w, ho @ (w * w)
            if j > 1:
                sg = torch.sigmoid(pre[j - 2])
                go, ho = go * sg, go * sg * (1 - sg) + ho * sg * sg
        if k % 2 == 1:
            ga, ha = ga + go, ha + ho
        else:
            gb, hb = gb + go, hb + ho
    gx, hx = torch.empty_like(x), torch.empty_like(x)
    gx[:, 0::2], gx[:, 1::2] = ga, gb
    hx[:, 0::2], hx[:, 1::2] = ha, hb
    return -gx, -hx


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    gen = torch.Generator().manual_seed(20261214)
    ts = build(gen)
    x = torch.randn(ROWS, DIM, generator=gen)
    v = torch.randn(ROWS, DIM, generator=gen)
    eps = torch.randn(ROWS, DIM, generator=gen)

    xr = x.clone().requires_grad_(True)
    e = energy(ts, xr)
    (g,) = torch.autograd.grad(e.sum(), xr, create_graph=True)
    (hv,) = torch.autograd.grad((g * v).sum(), xr)

    objectives = {}
    for name in ["ssm", "ssm-vr", "sm", "dsm", "grad", "approx-bp"]:
        for p in ts.values():
            p.grad = None
            p.requires_grad_(True)
        tm = terms(name, ts, x, v, eps)
        loss = tm.sum(1).mean()
        loss.backward()
        objectives[name] = {
            "loss": float(loss),
            "terms": tm.detach().tolist(),
            "grad": {n: flat(p.grad) for n, p in ts.items()},
        }
        for p in ts.values():
            p.requires_grad_(False)

    json.dump({
        "torch": torch.__version__,
        "dim": DIM,
        "hidden": HIDDEN,
        "couplings": COUPLINGS,
        "activation": "softplus",
        "sigma": SIGMA,
        "tensors": {n: flat(p) for n, p in ts.items()},
        "x": x.tolist(),
        "v": v.tolist(),
        "eps": eps.tolist(),
        "energy": flat(e),
        "score": (-g).detach().tolist(),
        "hvp": hv.tolist(),
        "latent": latent(ts, x).tolist(),
        "approx_diag": approx_bp(ts, x)[1].tolist(),
        "objectives": objectives,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
