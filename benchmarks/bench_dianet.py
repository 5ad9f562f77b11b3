# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Benchmark DIANet against MONAI SegResNet and BasicUNet on the same input, in the same process.

For each model: parameter count, forward time (eval, no grad), forward+backward time (train mode, sum of
outputs as loss) and peak memory of each call. On CPU, memory is the peak increase of the process's
resident set size (RSS, psutil, sampled every 2 ms by a background thread) over its level just before the
call (glibc is told to return freed blocks above 128 KiB to the OS, so RSS follows live tensors): an
honest measure of what the call needs on top of the model. On CUDA it is ``torch.cuda.max_memory_allocated``
growth. Each model gets one warm-up call (and one call measured for memory), then the ``--repeats`` timed calls are interleaved across models
so that load from other processes hits all of them; the fastest and the median are printed, ratios use the
fastest and are against SegResNet(init_filters=16, blocks_down=(1,2,2,4)).

Example::

    python benchmarks/bench_dianet.py --dims 3 --size 128 --repeats 3
    python benchmarks/bench_dianet.py --dims 2 3 --size 64 --size2d 128 --repeats 1   # quick
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import threading
import time
from collections.abc import Callable

import psutil
import torch
import torch.nn as nn

from monai.networks.nets import BasicUNet, SegResNet

from monai_dianet.networks.nets import DIANet


class PeakMemory:
    """Context manager measuring peak memory growth (MiB) during a block, CPU RSS or CUDA allocator."""

    def __init__(self, device: torch.device, interval: float = 0.002) -> None:
        self.device = device
        self.interval = interval
        self.peak_mib = 0.0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        self._proc = psutil.Process()
        self._base = self._proc.memory_info().rss
        self._peak = self._base
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.is_set():
                self._peak = max(self._peak, self._proc.memory_info().rss)
                time.sleep(self.interval)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mib = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
            return
        self._peak = max(self._peak, self._proc.memory_info().rss)
        self._stop.set()
        self._thread.join()
        self.peak_mib = (self._peak - self._base) / 2**20


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
        for backward in modes:  # warm-up (one-off kernel/primitive creation), then peak memory of one call
            _call(models[name], x, backward)
            with PeakMemory(device) as mem:
                _call(models[name], x, backward)
            rows[name][f"mem{int(backward)}"] = mem.peak_mib
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


def _fix_malloc_thresholds() -> None:
    """Make glibc return freed blocks above 128 KiB to the OS, so RSS tracks live tensor memory (CPU only)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD (a fixed value also disables the dynamic threshold)
        libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        print("note: glibc mallopt unavailable; CPU peak memory may be under-reported after the first model")


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
    if not args.device.startswith("cuda"):
        _fix_malloc_thresholds()
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
