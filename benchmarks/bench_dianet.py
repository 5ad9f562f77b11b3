# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Benchmark DIANet against MONAI SegResNet and BasicUNet on the same input, in the same process.

For each model: parameter count, forward time (eval, no grad), forward+backward time (train mode, mean of
the outputs as loss) and peak memory of each call. Times are taken in this one process: each model gets a
warm-up call, then the ``--repeats`` timed calls are interleaved across models so that load from other
processes hits all of them alike; the fastest and the median are printed, ratios use the fastest and are
against SegResNet(init_filters=16, blocks_down=(1,2,2,4)). Peak memory on CPU is measured in a fresh
spawned process per model and mode: the peak resident set size during one call (``VmHWM`` after resetting
it through ``/proc/self/clear_refs``) minus the RSS just before it, i.e. what the call needs on top of the model and input, with no allocator reuse from
other models. On CUDA it is the growth of ``torch.cuda.max_memory_allocated`` during one call.

Example::

    python benchmarks/bench_dianet.py --dims 3 --size 128 --repeats 3
    python benchmarks/bench_dianet.py --dims 2 3 --size 64 --size2d 128 --repeats 1   # quick
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue as queue_module
import resource
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn as nn

from monai.networks.nets import BasicUNet, SegResNet

from monai_dianet.networks.nets import DIANet


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss_mib() -> float:
    """Peak RSS since start or since the last reset (``VmHWM``), falling back to ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_child(name: str, dims: int, shape: tuple, backward: bool, threads: int, queue) -> None:
    """Run one call of one model in a fresh process and report its peak RSS growth (MiB)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_models(dims, shape[1], 3 if dims == 3 else 2)[name]()
    x = torch.randn(*shape)
    before = _rss_mib()
    try:  # reset the peak-RSS counter (VmHWM, Linux >= 4.0) so that the import-time peak does not count
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    _call(model, x, backward)
    queue.put(_peak_rss_mib() - before)


def peak_memory_mib(name: str, dims: int, shape: tuple, backward: bool, device: torch.device) -> float:
    """Peak memory (MiB) one call needs on top of model and input: CUDA allocator peak, or CPU RSS in a child."""
    if device.type == "cuda":
        torch.manual_seed(0)
        model = build_models(dims, shape[1], 3 if dims == 3 else 2)[name]().to(device)
        x = torch.randn(*shape, device=device)
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        _call(model, x, backward)
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        del model, x
        return peak
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_memory_child, args=(name, dims, shape, backward, torch.get_num_threads(), queue))
    proc.start()
    while True:
        try:
            peak = queue.get(timeout=1.0)
            break
        except queue_module.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"memory measurement of {name} ({dims}D) failed, see the error above.") from None
    proc.join()
    return peak


def build_models(dims: int, in_channels: int, out_channels: int) -> dict[str, Callable[[], nn.Module]]:
    """Model factories for one spatial dimensionality, DIANet first, SegResNet (the baseline) second."""
    return {
        "DIANet": lambda: DIANet(dims, in_channels, out_channels),
        "DIANet-cls+rec": lambda: DIANet(
            dims, in_channels, out_channels, tasks=("segmentation", "classification", "reconstruction")
        ),
        "SegResNet": lambda: SegResNet(
            spatial_dims=dims,
            init_filters=16,
            in_channels=in_channels,
            out_channels=out_channels,
            blocks_down=(1, 2, 2, 4),
        ),
        "BasicUNet": lambda: BasicUNet(spatial_dims=dims, in_channels=in_channels, out_channels=out_channels),
    }


def _loss(y) -> torch.Tensor:
    if isinstance(y, torch.Tensor):
        return y.float().mean()
    return sum(t.float().mean() for t in (y.segmentation, y.classification, y.reconstruction) if t is not None)


def _call(model: nn.Module, x: torch.Tensor, backward: bool) -> float:
    """One forward (eval, no grad) or forward+backward (train) call; returns its wall time in seconds."""
    model.zero_grad(set_to_none=True)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    start = time.perf_counter()
    if backward:
        model.train()
        _loss(model(x)).backward()
    else:
        model.eval()
        with torch.no_grad():
            model(x)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    elapsed = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return elapsed


def run(dims: int, size: int, in_channels: int, out_channels: int, args: argparse.Namespace) -> list[dict]:
    """Measure all models on one input; timing runs are interleaved across models so load noise hits all."""
    device = torch.device(args.device)
    shape = (args.batch, in_channels) + (size,) * dims
    print(f"\n== {dims}D input {shape}, {device}, {torch.get_num_threads()} threads, repeats {args.repeats} ==")
    factories = build_models(dims, in_channels, out_channels)
    names = [n for n in factories if args.models is None or n in args.models]
    modes = [False] if args.no_backward else [False, True]
    torch.manual_seed(0)
    x = torch.randn(*shape, device=device)
    models, rows = {}, {}
    for name in names:
        torch.manual_seed(0)
        models[name] = factories[name]().to(device)
        rows[name] = {"model": name, "params": sum(p.numel() for p in models[name].parameters())}
        for backward in modes:
            rows[name][f"mem{int(backward)}"] = peak_memory_mib(name, dims, shape, backward, device)
            _call(models[name], x, backward)  # warm-up (one-off kernel/primitive creation)
    for backward in modes:
        times: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(args.repeats):
            for name in names:
                times[name].append(_call(models[name], x, backward))
        for name in names:
            rows[name][f"min{int(backward)}"] = min(times[name])
            rows[name][f"med{int(backward)}"] = statistics.median(times[name])
    for name in names:
        r = rows[name]
        line = f"{name:16s} params {r['params'] / 1e6:6.2f}M  fwd {r['min0']:7.3f}s (median {r['med0']:7.3f})"
        line += f" peak {r['mem0']:8.1f}MiB"
        if "min1" in r:
            line += f" | fwd+bwd {r['min1']:7.3f}s (median {r['med1']:7.3f}) peak {r['mem1']:8.1f}MiB"
        print(line, flush=True)
    if "SegResNet" in rows:
        base = rows["SegResNet"]
        print(f"-- ratios vs SegResNet ({dims}D; times: fastest of the repeats) --")
        for name in names:
            r = rows[name]
            parts = [f"params x{r['params'] / base['params']:.2f}", f"fwd x{r['min0'] / base['min0']:.2f}"]
            parts.append(f"fwd mem x{r['mem0'] / max(base['mem0'], 1e-6):.2f}")
            if "min1" in r:
                parts.append(f"fwd+bwd x{r['min1'] / base['min1']:.2f}")
                parts.append(f"fwd+bwd mem x{r['mem1'] / max(base['mem1'], 1e-6):.2f}")
            print(f"{name:16s} " + "  ".join(parts))
    return list(rows.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, nargs="+", default=[3, 2], choices=(2, 3))
    parser.add_argument("--size", type=int, default=128, help="3D spatial size (1x4xS^3)")
    parser.add_argument("--size2d", type=int, default=256, help="2D spatial size (1x3xS^2)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=None, help="subset of model names")
    parser.add_argument("--no-backward", action="store_true", help="skip the forward+backward measurement")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and torch.cuda.is_available():
        print(f"device: {torch.cuda.get_device_name(torch.device(args.device))}")
    for dims in args.dims:
        if dims == 3:
            run(3, args.size, 4, 3, args)
        else:
            run(2, args.size2d, 3, 2, args)


if __name__ == "__main__":
    main()
