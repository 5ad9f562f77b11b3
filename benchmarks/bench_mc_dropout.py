# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Cost of MC-dropout inference with DIANet: ``MCDropoutInferer`` (encode once, then ``DIANet.decode_samples``) vs one
deterministic pass vs T naive full passes, side by side in one process, printed as ratios.

DIANet keeps dropout only in the heads' final projections (contract: ``encode``/``decode`` split), so the T stochastic
samples cost one encoder pass plus T cheap projections (the channel-dropout masks folded into the 1x1 projection
weights, one grouped convolution over the un-repeated features) and the per-voxel statistics.

Usage::

    python benchmarks/bench_mc_dropout.py                      # 3D 1x4x64^3 and 2D 1x3x256^2, T=10
    python benchmarks/bench_mc_dropout.py --threads 2 --repeats 3 --samples 10
"""

from __future__ import annotations

import argparse
import time

import torch

from monai_dianet.inferers import MCDropoutInferer
from monai_dianet.networks.nets import DIANet


def _time_interleaved(fns: dict, repeats: int) -> dict:
    """Best-of-``repeats`` wall time of each function, run interleaved so load changes hit all of them alike."""
    for fn in fns.values():
        fn()  # warm-up
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def bench(spatial_dims: int, in_channels: int, out_channels: int, size: int, samples: int, repeats: int) -> dict:
    torch.manual_seed(0)
    net = DIANet(spatial_dims, in_channels, out_channels, dropout=0.1).eval()
    x = torch.randn(1, in_channels, *([size] * spatial_dims))
    inferer = MCDropoutInferer(num_samples=samples)

    def single():
        with torch.no_grad():
            net(x)

    def mc():
        with torch.no_grad():
            inferer(x, net)

    def naive():
        with torch.no_grad(), net.mc_dropout():
            probs = [torch.softmax(net(x), 1) for _ in range(samples)]
            torch.stack(probs).mean(0)

    t = _time_interleaved({"single": single, "mc": mc, "naive": naive}, repeats)
    return {"shape": tuple(x.shape), "single_s": t["single"], "mc_s": t["mc"], "naive_s": t["naive"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10, help="T, MC samples")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (best of, interleaved)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--size3d", type=int, default=64)
    parser.add_argument("--size2d", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, T={args.samples}, DIANet defaults with dropout=0.1")
    cols = ("1 pass [s]", "MC T [s]", "naive T [s]", "MC/1", "naive/1", "naive/MC")
    widths = (11, 10, 12, 6, 8, 9)
    print(f"{'input':>22} " + " ".join(f"{c:>{w}}" for c, w in zip(cols, widths)))
    for sd, cin, cout, size in ((3, 4, 4, args.size3d), (2, 3, 2, args.size2d)):
        r = bench(sd, cin, cout, size, args.samples, args.repeats)
        print(
            f"{'x'.join(map(str, r['shape'])):>22} {r['single_s']:11.3f} {r['mc_s']:10.3f} {r['naive_s']:12.3f} "
            f"{r['mc_s'] / r['single_s']:6.2f} {r['naive_s'] / r['single_s']:8.2f} {r['naive_s'] / r['mc_s']:9.2f}"
        )


if __name__ == "__main__":
    main()
