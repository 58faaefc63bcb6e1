#!/usr/bin/env python3
"""Generate sde_golden.json: PyTorch's values of the objectives sde-dsm and
sde-sse-vr (ssm/sde_dsm.go, ssm/sde_sse.go), the reference for
TestSDEObjectivesGolden.

Run with a Python that has torch (Debian: apt-get install python3-torch),
from this directory:

    /usr/bin/python3 sde_golden.py > sde_golden.json

The net is nn's SDENet as ../../nn/testdata/sdenet_golden.py builds it
(imported from there). For each SDE and each weighting the script fixes
rows x, times t, noise z and one Gaussian projection v per row, perturbs
x_t = alpha(t) x + s(t) z, and computes by autograd, in float64:

    sde-dsm     mean over rows of lambda/s^2 * 1/2 |s h(x_t, t) + z|^2
    sde-sse-vr  mean over rows of lambda * (1/2 |h|^2 + v^T (dh/dx) v)

with lambda = s(t)^2 (the default) or g(t)^2 (the likelihood weighting),
and the gradients of each mean with respect to every trainable parameter.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "nn", "testdata"))
import sdenet_golden as net  # noqa: E402

torch.set_default_dtype(torch.float64)


def kernel(sde, t):
    """alpha(t), s(t) and g(t) of the SDE, from its formulas."""
    kind, a, b = sde.split(":")
    a, b = float(a), float(b)
    if kind == "ve":
        sigma = a * torch.exp(t * math.log(b / a))
        return torch.ones_like(t), sigma, sigma * math.sqrt(2 * math.log(b / a))
    beta = a + t * (b - a)
    ib = a * t + 0.5 * t * t * (b - a)
    alpha = torch.exp(-0.5 * ib)
    if kind == "vp":
        return alpha, torch.sqrt(-torch.expm1(-ib)), torch.sqrt(beta)
    return alpha, -torch.expm1(-ib), torch.sqrt(beta * -torch.expm1(-2 * ib))


def main():
    gen = torch.Generator().manual_seed(20261202)
    cases = []
    for sde, activation in net.CASES:
        ts = net.build(gen)
        x = torch.randn(net.ROWS, net.DIM, generator=gen)
        z = torch.randn(net.ROWS, net.DIM, generator=gen)
        v = torch.randn(net.ROWS, net.DIM, generator=gen)
        t = torch.tensor([1e-5, 0.01, 0.2, 0.5, 0.8, 1.0])
        alpha, s, g = kernel(sde, t)
        for weighting in ["sigma2", "likelihood"]:
            lam = s * s if weighting == "sigma2" else g * g
            for objective in ["sde-dsm", "sde-sse-vr"]:
                for name, p in ts.items():
                    p.grad = None
                    p.requires_grad_(name != "fourier.W")
                xt = (alpha[:, None] * x + s[:, None] * z).detach().requires_grad_(True)
                h = net.forward(sde, activation, ts, xt, t)
                if objective == "sde-dsm":
                    per = (lam / (s * s)) * 0.5 * ((s[:, None] * h + z) ** 2).sum(1)
                else:
                    (jtv,) = torch.autograd.grad((h * v).sum(), xt, create_graph=True)
                    per = lam * (0.5 * (h ** 2).sum(1) + (jtv * v).sum(1))
                loss = per.mean()
                loss.backward()
                cases.append({
                    "sde": sde,
                    "activation": activation,
                    "weighting": weighting,
                    "objective": objective,
                    "tensors": {n: net.flat(p) for n, p in ts.items()},
                    "x": x.tolist(),
                    "t": t.tolist(),
                    "z": z.tolist(),
                    "v": v.tolist(),
                    "loss": float(loss),
                    "grads": {n: net.flat(p.grad) for n, p in ts.items() if n != "fourier.W"},
                })
    json.dump({"torch": torch.__version__, "dim": net.DIM, "hidden": net.HIDDEN, "cases": cases}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
