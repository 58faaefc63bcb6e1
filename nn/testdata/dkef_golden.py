#!/usr/bin/env python3
"""Generate dkef_golden.json: PyTorch's values of nn.DKEF and of its
closed-form alpha fit, the reference for TestDKEFGolden.

Run with a Python that has torch (Debian: apt-get install python3-torch):

    python3 dkef_golden.py > dkef_golden.json

The model (see nn/dkef.go), in float64, with weights drawn from a seeded
torch generator and written under the Go model's parameter names:

    log p(x) = -|x|^2 / (2 * 2^2) + sum_j w_j sum_m alpha_m k_j(x, z_m)
    k_j(x, z) = exp(-|phi_j(x) - phi_j(z)|^2 / (2 * 10^s_j))
    w = softmax(kernel_weights)
    phi_j(x) = L3(softplus(L2(softplus(L1(x))))) + S x

For each fit (exact, sliced, sliced_vr, dsm) alpha is fitted on a half
batch xt as the sliced score matching paper's code does it: the input
gradient of every kernel column by autograd on the batch repeated once
per inducing point, the quadratic's G and b from it (second derivatives
by autograd with create_graph), alpha = -(G + 10^log_lambd I)^-1 b by
torch.linalg.solve. Then, with that alpha, the energy E = -log p, the
score and the Hessian-vector product along v at the other half xv, and
the exact score-matching loss on xv,

    loss = mean_b (0.5 |grad log p|^2 + sum_d d^2 log p / dx_d^2),

whose gradient with respect to every parameter (through alpha) is taken
by autograd.
"""
import json
import sys

import torch

torch.set_default_dtype(torch.float64)

DIM, M, FEAT, KERNELS = 3, 5, 4, 3
NT, NV = 7, 5
SIGMA = 0.4
Q0_SIGMA = 2.0


def softplus(z):
    return torch.clamp(z, min=0) + torch.log1p(torch.exp(-torch.abs(z)))


def build(gen):
    """Parameters under the Go model's names, in its Params order (alpha last, unset)."""
    ts = {
        "kernel_weights": torch.randn(KERNELS, generator=gen) * 0.5,
        "z": torch.randn(M, DIM, generator=gen),
        "log_lambd": torch.tensor(-1.5),
    }
    for j in range(KERNELS):
        p = "kernel.%d." % j
        ts[p + "log_sigma"] = torch.tensor([0.0, 0.5185, 1.0][j] + 0.1 * j)
        ts[p + "phi_w.skip.weight"] = torch.randn(FEAT, DIM, generator=gen) / FEAT ** 0.5
        for layer, fan_in in ((0, DIM), (2, FEAT), (4, FEAT)):
            ts[p + "phi_w.net.%d.weight" % layer] = torch.randn(FEAT, fan_in, generator=gen) / FEAT ** 0.5
            ts[p + "phi_w.net.%d.bias" % layer] = torch.randn(FEAT, generator=gen) / FEAT ** 0.5
    return ts


def phi(ts, j, x):
    p = "kernel.%d.phi_w." % j
    h = x
    for layer in (0, 2, 4):
        h = h @ ts[p + "net.%d.weight" % layer].T + ts[p + "net.%d.bias" % layer]
        if layer < 4:
            h = softplus(h)
    return h + x @ ts[p + "skip.weight"].T


def kernel_columns(ts, x):
    """f[..., m] = sum_j w_j k_j(x[..., m, :], z_m) for x of shape (N, M, D)."""
    w = torch.softmax(ts["kernel_weights"], dim=0)
    f = 0
    for j in range(KERNELS):
        d2 = ((phi(ts, j, x) - phi(ts, j, ts["z"])) ** 2).sum(-1)
        f = f + w[j] * torch.exp(-d2 / (2 * 10 ** ts["kernel.%d.log_sigma" % j]))
    return f


def log_p(ts, alpha, x):
    w = torch.softmax(ts["kernel_weights"], dim=0)
    out = -(x ** 2).sum(1) / (2 * Q0_SIGMA ** 2)
    for j in range(KERNELS):
        d2 = ((phi(ts, j, x)[:, None, :] - phi(ts, j, ts["z"])[None, :, :]) ** 2).sum(-1)
        out = out + w[j] * torch.exp(-d2 / (2 * 10 ** ts["kernel.%d.log_sigma" % j])) @ alpha
    return out


def fit_alpha(ts, mode, x, v, eps):
    if mode == "dsm":
        x = x + SIGMA * eps
    q0_grad = -x / Q0_SIGMA ** 2
    xe = x[:, None, :].repeat(1, M, 1).requires_grad_(True)
    f = kernel_columns(ts, xe)
    grad = torch.autograd.grad(f.sum(), xe, create_graph=True)[0]  # (N, M, D)
    n = x.shape[0]
    if mode == "sliced":
        gv = (grad * v[:, None, :]).sum(2)
        g = gv.T @ gv / n
    else:
        g = torch.einsum("nmd,nkd->mk", grad, grad) / n
    if mode == "exact":
        lap = 0
        for d in range(DIM):
            lap = lap + torch.autograd.grad(grad[:, :, d].sum(), xe, create_graph=True)[0][:, :, d]
        b = lap.mean(0) + torch.einsum("nmd,nd->m", grad, q0_grad) / n
    elif mode in ("sliced", "sliced_vr"):
        gv = (grad * v[:, None, :]).sum(2)
        h = (torch.autograd.grad(gv.sum(), xe, create_graph=True)[0] * v[:, None, :]).sum(2)
        if mode == "sliced":
            b = h.mean(0) + (gv * (q0_grad * v).sum(1)[:, None]).mean(0)
        else:
            b = h.mean(0) + torch.einsum("nmd,nd->m", grad, q0_grad) / n
    else:
        g = g * SIGMA ** 4
        b = SIGMA ** 2 * torch.einsum("nmd,nd->m", grad, SIGMA ** 2 * q0_grad + SIGMA * eps) / n
    a = g + 10 ** ts["log_lambd"] * torch.eye(M)
    return torch.linalg.solve(a, -b[:, None])[:, 0]


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    gen = torch.Generator().manual_seed(20261201)
    ts = build(gen)
    for v in ts.values():
        v.requires_grad_(True)
    xt = torch.randn(NT, DIM, generator=gen)
    vt = torch.randint(0, 2, (NT, DIM), generator=gen).double() * 2 - 1
    et = torch.randn(NT, DIM, generator=gen)
    xv = torch.randn(NV, DIM, generator=gen)
    vv = torch.randn(NV, DIM, generator=gen)
    cases = []
    for mode in ("exact", "sliced", "sliced_vr", "dsm"):
        for v in ts.values():
            v.grad = None
        alpha = fit_alpha(ts, mode, xt, vt, et)
        x = xv.clone().requires_grad_(True)
        lp = log_p(ts, alpha, x)
        score = torch.autograd.grad(lp.sum(), x, create_graph=True)[0]
        hvp = torch.autograd.grad((score * vv).sum(), x, retain_graph=True)[0]
        tr = 0
        for d in range(DIM):
            tr = tr + torch.autograd.grad(score[:, d].sum(), x, create_graph=True)[0][:, d]
        loss = (0.5 * (score ** 2).sum(1) + tr).mean()
        loss.backward()
        cases.append({
            "fit": mode,
            "alpha": flat(alpha),
            "energy": flat(-lp),
            "score": flat(score),
            "hvp": flat(-hvp),
            "loss": float(loss),
            "grads": {n: flat(v.grad) for n, v in ts.items()},
        })
    json.dump({
        "torch": torch.__version__,
        "dim": DIM, "inducing": M, "features": FEAT, "kernels": KERNELS, "sigma": SIGMA,
        "tensors": {n: flat(v) for n, v in ts.items()},
        "xt": flat(xt), "vt": flat(vt), "et": flat(et), "xv": flat(xv), "vv": flat(vv),
        "cases": cases,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
