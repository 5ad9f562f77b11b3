# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Cost of MC-dropout inference with DIANet for each ``dropout_placement``: ``MCDropoutInferer`` vs one deterministic
pass vs T naive full passes, side by side in one process, printed as ratios.

- ``head``: dropout only in the heads' final projections: one encoder pass, then T cheap projections (channel-dropout
  masks folded into the 1x1 projection weights, one grouped convolution over the un-repeated features) and the
  per-voxel statistics.
- ``decoder``: also in the decoders: encoder, pyramid and latent once, the decoders T times (batched).
- ``all``: also after every backbone stage: T full passes (one sample per call on CPU), no shared work.

"naive T" is T separate ``net(x)`` calls of the head-placement network under ``net.mc_dropout()`` plus the softmax
mean (what MC dropout costs without the inferer).

Usage::

    python benchmarks/bench_mc_dropout.py                      # 3D 1x4x64^3 and 2D 1x3x256^2, T=10
    python benchmarks/bench_mc_dropout.py --threads 1 --repeats 3 --samples 10 --placements head decoder all
"""

from __future__ import annotations

import argparse
import time

import torch

from monai_dianet.inferers import MCDropoutInferer
from monai_dianet.networks.nets import DIANet
from monai_dianet.utils import DropoutPlacement


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


def bench(spatial_dims: int, in_channels: int, out_channels: int, size: int, samples: int, repeats: int,
          placements) -> dict:
    x = torch.randn(1, in_channels, *([size] * spatial_dims))
    nets = {}
    for p in placements:
        torch.manual_seed(0)  # the same weights for every placement (dropout has no parameters)
        nets[p] = DIANet(spatial_dims, in_channels, out_channels, dropout=0.1, dropout_placement=p).eval()
    net = nets[placements[0]]
    inferer = MCDropoutInferer(num_samples=samples)

    def single():
        with torch.no_grad():
            net(x)

    def naive():
        with torch.no_grad(), net.mc_dropout():
            probs = [torch.softmax(net(x), 1) for _ in range(samples)]
            torch.stack(probs).mean(0)

    def mc(p):
        def run():
            with torch.no_grad():
                inferer(x, nets[p])
        return run

    fns = {"single": single, "naive": naive, **{p: mc(p) for p in placements}}
    return {"shape": tuple(x.shape), **_time_interleaved(fns, repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10, help="T, MC samples")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (best of, interleaved)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--size3d", type=int, default=64)
    parser.add_argument("--size2d", type=int, default=256)
    parser.add_argument("--placements", nargs="+", default=[p.value for p in DropoutPlacement],
                        choices=[p.value for p in DropoutPlacement])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, T={args.samples}, DIANet defaults with dropout=0.1")
    columns = " ".join(f"{p + ' T/1':>11}" for p in args.placements)
    print(f"{'input':>22} {'1 pass [s]':>10} {'naive T/1':>9} {columns}")
    for sd, cin, cout, size in ((3, 4, 4, args.size3d), (2, 3, 2, args.size2d)):
        r = bench(sd, cin, cout, size, args.samples, args.repeats, args.placements)
        s = r["single"]
        print(
            f"{'x'.join(map(str, r['shape'])):>22} {s:10.3f} {r['naive'] / s:9.2f} "
            + " ".join(f"{r[p] / s:11.2f}" for p in args.placements)
        )


if __name__ == "__main__":
    main()
