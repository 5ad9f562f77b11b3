# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Benchmark DIANet against MONAI SegResNet and BasicUNet: speed and memory on one input, and training on real anatomy.

**Speed and memory** (default mode). For each model: parameter count, forward time (eval, no grad),
forward+backward time (train mode; the loss is the mean of the output, for DIANet the sum over every active
head's output mean through ``return_all=True``, and the script checks that every head's parameters received a
gradient) and peak memory of each call. Each model gets a warm-up call, then the ``--repeats`` timed calls are
interleaved across models so that load from other processes hits all of them alike; the fastest and the median
are printed, ratios use the fastest and are against SegResNet (MONAI's BraTS settings: ``init_filters=16``,
``blocks_down=(1,2,2,4)``, ``blocks_up=(1,1,1)``, ``dropout_prob=0.2``). Peak memory on CPU is measured in a fresh
spawned process per model and mode: the peak resident set size during one call (``VmHWM`` after resetting it
through ``/proc/self/clear_refs``) minus the RSS just before it, i.e. what the call needs on top of the model and
input. On CUDA it is the growth of ``torch.cuda.max_memory_allocated`` during one call.

**Real anatomy** (``--anatomy``): grey/white-matter segmentation of real T1 brain MRI shipped in packages
(``benchmarks/brain_tissue.py``: ICBM152 2009a from nilearn for training and its test draws, Colin27 + AAL
from Debian's mricron-data kept aside as a final check). Per seed, in its own process, SegResNet, DIANet
(package defaults, ``DIANetLoss`` defaults with ``DiceLoss(sigmoid=True)`` as segmentation loss) and
BasicUNet train side by side at batch size 1 on the same augmented samples (Adam 1e-3,
``DiceLoss(sigmoid=True)``), from the same seed; Dice is reported at equal iterations and at equal wall-clock
time (each network's own training clock against SegResNet's: a faster network trains on, a slower one is
rewound to its last 5-iteration snapshot within the budget). ``--sweep``: validation Dice of DIANet variants
(``SWEEP``) on the same task, used to choose DIANet's defaults.

Example::

    python benchmarks/bench_dianet.py --dims 3 --size 128 --repeats 3
    python benchmarks/bench_dianet.py --dims 2 3 --size 64 --size2d 128 --repeats 1   # quick
    python benchmarks/bench_dianet.py --dims 3 --size 64 --in-channels 1 --out-channels 2   # the anatomy input
    python benchmarks/bench_dianet.py --anatomy --seeds 0 1 2 --jobs 3 --threads 1   # needs the bench extra
    python benchmarks/bench_dianet.py --sweep --seeds 0 --jobs 3 --threads 1
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue as queue_module
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from monai.losses import DiceLoss
from monai.networks.nets import BasicUNet, SegResNet

from brain_tissue import dice_per_channel, draw_cases, load_colin27, load_icbm152, sample_stream
from monai_dianet.losses import DIANetLoss
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


def _memory_child(name: str, dims: int, shape: tuple, backward: bool, threads: int, out_channels: int, queue) -> None:
    """Run one call of one model in a fresh process and report its peak RSS growth (MiB)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_models(dims, shape[1], out_channels)[name]()
    x = torch.randn(*shape)
    before = _rss_mib()
    try:  # reset the peak-RSS counter (VmHWM, Linux >= 4.0) so that the import-time peak does not count
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    _call(model, x, backward)
    queue.put(_peak_rss_mib() - before)


def peak_memory_mib(
    name: str, dims: int, shape: tuple, backward: bool, device: torch.device, out_channels: int | None = None
) -> float:
    """Peak memory (MiB) one call needs on top of model and input: CUDA allocator peak, or CPU RSS in a child."""
    out_channels = out_channels or (3 if dims == 3 else 2)
    if device.type == "cuda":
        torch.manual_seed(0)
        model = build_models(dims, shape[1], out_channels)[name]().to(device)
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
    proc = ctx.Process(
        target=_memory_child, args=(name, dims, shape, backward, torch.get_num_threads(), out_channels, queue)
    )
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
            blocks_up=(1, 1, 1),
            dropout_prob=0.2,
        ),
        "BasicUNet": lambda: BasicUNet(spatial_dims=dims, in_channels=in_channels, out_channels=out_channels),
    }


def _loss(y) -> torch.Tensor:
    """Mean of the output; for a :class:`DIANetOutput`, the sum over every active head's output mean."""
    if isinstance(y, torch.Tensor):
        return y.float().mean()
    return sum(getattr(y, t).float().mean() for t in y.tasks)


def check_head_gradients(model: nn.Module) -> None:
    """Raise unless every parameter of every active DIANet head (decoder and projection) received a gradient.

    Raises:
        RuntimeError: a head parameter has no gradient or an all-zero one.
    """
    if not isinstance(model, DIANet):
        return
    for task in model.tasks:
        modules = [model.heads[task]] + ([model.decoders[task]] if task in model.decoders else [])
        for module in modules:
            for name, p in module.named_parameters():
                if p.requires_grad and (p.grad is None or not bool(p.grad.abs().sum() > 0)):
                    raise RuntimeError(f"DIANet head '{task}' parameter {name} got no gradient in fwd+bwd.")


def _call(model: nn.Module, x: torch.Tensor, backward: bool) -> float:
    """One forward (eval, no grad) or forward+backward (train) call; returns its wall time in seconds.

    DIANet is called with ``return_all=True`` in forward+backward so that the loss holds every active head;
    :func:`check_head_gradients` then checks (outside the timed region) that each head was backpropagated.
    """
    model.zero_grad(set_to_none=True)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    start = time.perf_counter()
    if backward:
        model.train()
        out = model(x, return_all=True) if isinstance(model, DIANet) else model(x)
        _loss(out).backward()
    else:
        model.eval()
        with torch.no_grad():
            model(x)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    elapsed = time.perf_counter() - start
    if backward:
        check_head_gradients(model)
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
            rows[name][f"mem{int(backward)}"] = (
                float("nan") if args.skip_memory else peak_memory_mib(name, dims, shape, backward, device, out_channels)
            )
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


# ---------------------------------------------------------------------------------------------------------------
# Real anatomy: grey/white-matter segmentation (benchmarks/brain_tissue.py), all networks trained side by side.

BASELINE = "SegResNet"
VAL_SEED, TEST_SEED = 1000, 2000  # RNG streams of the fixed validation / test draws; training uses the run seed


@dataclass
class _Run:
    """One network being trained: its optimiser, loss, training clock and (when slower than the baseline)
    state snapshots for the equal-wall-clock evaluation."""

    name: str
    model: nn.Module
    loss: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
    opt: torch.optim.Optimizer = field(init=False)
    clock: float = 0.0
    iters: int = 0
    snapshots: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model.train()
        start = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.model, x, y).backward()
        self.opt.step()
        self.clock += time.perf_counter() - start
        self.iters += 1


def _dice_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, fn=DiceLoss(sigmoid=True)) -> torch.Tensor:
    return fn(model(x), y)


def dianet_loss(weights: dict | None = None) -> Callable:
    """``DIANetLoss`` with the task's ``DiceLoss(sigmoid=True)`` as the segmentation loss and ``weights``
    for the regularisers (default: ``DIANetLoss``'s)."""
    fn = DIANetLoss(task_losses={"segmentation": DiceLoss(sigmoid=True)}, weights=weights)
    return lambda model, x, y: fn(model(x, return_all=True), y)


def evaluate(model: nn.Module, cases: list[dict], channels: int | None = None) -> float:
    """Mean hard Dice (sigmoid > 0.5) over cases and the first ``channels`` label channels (default: all)."""
    model.eval()
    scores = []
    with torch.no_grad():
        for case in cases:
            pred = torch.sigmoid(model(case["image"][None]))[0] > 0.5
            label = case["label"]
            c = channels or label.shape[0]
            scores.append(dice_per_channel(pred[:c], label[:c]).mean())
    return float(np.mean(scores))


def anatomy_models() -> dict[str, Callable[[], tuple[nn.Module, Callable]]]:
    """(network, loss) factories of the anatomy comparison: SegResNet (MONAI's BraTS settings), DIANet with
    the package defaults and ``DIANetLoss`` defaults, BasicUNet; all with ``DiceLoss(sigmoid=True)``."""
    nets = build_models(3, 1, 2)
    return {
        "SegResNet": lambda: (nets["SegResNet"](), _dice_loss),
        "DIANet": lambda: (nets["DIANet"](), dianet_loss()),
        "BasicUNet": lambda: (nets["BasicUNet"](), _dice_loss),
    }


def train_side_by_side(
    factories: dict[str, Callable], base: dict, seed: int, iterations: int, snapshot_every: int = 0
) -> dict[str, _Run]:
    """Train every network for ``iterations`` steps at batch size 1, interleaved step by step on the same
    augmented samples (so load from other processes hits all alike); same initial seed for each network.

    With ``snapshot_every``, a network whose training clock is ahead of the baseline's (a slower network)
    keeps copies of its weights every ``snapshot_every`` steps (for :func:`equal_time_dice`).
    """
    runs = {}
    for name, make in factories.items():
        torch.manual_seed(seed)
        model, loss = make()
        runs[name] = _Run(name, model, loss)
    stream = sample_stream(base, seed)
    for it in range(iterations):
        x, y = next(stream)
        for run in runs.values():
            run.step(x, y)
            base_clock = runs[BASELINE].clock if BASELINE in runs else None
            if snapshot_every and run.name != BASELINE and run.iters % snapshot_every == 0:
                if base_clock is not None and run.clock > base_clock:  # slower: equal time falls before the end
                    state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
                    run.snapshots.append((run.iters, run.clock, state))
        if (it + 1) % 25 == 0:
            print(f"  seed {seed} iteration {it + 1}/{iterations}: "
                  + ", ".join(f"{r.name} {r.clock:.0f}s" for r in runs.values()), flush=True)
    runs["_stream"] = stream  # type: ignore[assignment]
    return runs


def equal_time_dice(run: _Run, budget: float, stream, cases: list[dict], extra: list[list[dict]]) -> tuple:
    """Dice of ``run`` after ``budget`` seconds of its own training clock: trains on (faster networks) or
    rewinds to the last snapshot within the budget (slower ones). Returns (iterations, dice, extra dice...)."""
    if run.clock <= budget:
        while run.clock < budget:
            run.step(*next(stream))
    else:
        fitting = [s for s in run.snapshots if s[1] <= budget]
        if not fitting:
            return (0, float("nan")) + tuple(float("nan") for _ in extra)
        run.iters, run.clock, state = fitting[-1]
        run.model.load_state_dict(state)
    return (run.iters, evaluate(run.model, cases)) + tuple(evaluate(run.model, c, 1) for c in extra)


def _mean_sd(values: list[float]) -> str:
    values = [v for v in values if v == v]
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} +- {sd:.3f}"


def _anatomy_seed(seed: int, iterations: int, test_cases: int, threads: int, grid: tuple) -> dict[str, dict]:
    """One seed of :func:`anatomy_benchmark` (run in its own process): per network its time ratio, Dice at
    equal iterations and at equal time, and the iterations of the equal-time point."""
    torch.set_num_threads(threads)
    base = load_icbm152(*grid)
    test = draw_cases(base, test_cases, TEST_SEED)
    try:
        colin = [load_colin27(*grid)]
    except FileNotFoundError as err:
        colin = []
        print(f"final check on Colin27 skipped: {err}", flush=True)
    runs = train_side_by_side(anatomy_models(), base, seed, iterations, snapshot_every=5)
    stream = runs.pop("_stream")
    budget = runs[BASELINE].clock
    rows = {}
    for name, run in runs.items():
        r = {"time ratio": run.clock / budget, "train s": run.clock, "dice iter": evaluate(run.model, test)}
        r["colin iter"] = evaluate(run.model, colin, 1) if colin else float("nan")
        iters, dice, *extra = equal_time_dice(run, budget, stream, test, [colin] if colin else [])
        r.update({"iters time": iters, "dice time": dice, "colin time": extra[0] if extra else float("nan")})
        rows[name] = r
        print(
            f"  seed {seed} {name:10s} train {r['train s']:.0f}s  Dice test {r['dice iter']:.3f} (equal time, "
            f"{iters} it: {dice:.3f})  Colin27 GM {r['colin iter']:.3f} ({r['colin time']:.3f})",
            flush=True,
        )
    return rows


def anatomy_benchmark(args: argparse.Namespace) -> None:
    """DIANet vs SegResNet vs BasicUNet on real anatomy over ``args.seeds`` (one process per seed, ``--jobs`` at
    a time; within a seed the networks train side by side): Dice at equal iterations and at equal wall-clock
    time (SegResNet's training time), train-time ratio, and the peak memory of one training step of each network
    (:func:`peak_memory_mib`, forward+backward in a fresh process). Forward time on the task's input:
    ``--dims 3 --size 64 --in-channels 1 --out-channels 2``."""
    print(
        f"\n== real anatomy: ICBM152 2009a GM/WM, 1x1x{int(args.grid[1])}^3 at {args.grid[0]:g} mm, batch 1, "
        f"Adam 1e-3, "
        f"{args.iterations} "
        f"iterations, seeds {args.seeds}, {args.test_cases} test draws, Colin27 GM kept aside =="
    )
    threads = torch.get_num_threads()
    shape = (1, 1) + (int(args.grid[1]),) * 3
    memory = {name: peak_memory_mib(name, 3, shape, True, torch.device("cpu"), 2) for name in anatomy_models()}
    print(
        "peak memory of one training step (forward+backward, batch 1, MiB on top of model and input): "
        + ", ".join(f"{name} {mib:.0f}" for name, mib in memory.items()),
        flush=True,
    )
    jobs = [(seed, args.iterations, args.test_cases, threads, tuple(args.grid)) for seed in args.seeds]
    with multiprocessing.get_context("spawn").Pool(min(args.jobs, len(jobs))) as pool:
        per_seed = pool.starmap(_anatomy_seed, jobs)
    rows = {name: {k: [s[name][k] for s in per_seed] for k in per_seed[0][name]} for name in per_seed[0]}
    print(
        f"\n-- real anatomy, mean +- sd over seeds {args.seeds} (Dice: mean of GM and WM on {args.test_cases} "
        f"ICBM test draws; Colin27: GM vs AAL) --"
    )
    print(
        "| model | train time / SegResNet | peak memory, train step (MiB) | Dice test, equal iterations | "
        "Dice test, equal time (iterations) | Colin27 GM, equal iterations | Colin27 GM, equal time |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        its = "/".join(str(i) for i in r["iters time"])
        print(
            f"| {name} | {_mean_sd(r['time ratio'])} | {memory[name]:.0f} | {_mean_sd(r['dice iter'])} | "
            f"{_mean_sd(r['dice time'])} "
            f"({its}) | {_mean_sd(r['colin iter'])} | {_mean_sd(r['colin time'])} |"
        )
    for name in rows:
        if name != BASELINE:
            for key, label in (("dice iter", "equal iterations"), ("dice time", "equal time")):
                diff = [a - b for a, b in zip(rows[name][key], rows[BASELINE][key])]
                print(
                    f"{name} - SegResNet test Dice, {label}: {_mean_sd(diff)} "
                    f"(per seed {', '.join(f'{d:+.3f}' for d in diff)})"
                )


def _sweep_part(names: list[str], seed: int, iterations: int, val_cases: int, threads: int, grid: tuple) -> dict:
    """Train the DIANet variants ``names`` side by side on one seed; (validation Dice, train s, params) each,
    or (NaN, NaN, params, error) for a variant that cannot train at this ROI and batch size."""
    torch.set_num_threads(threads)
    base = load_icbm152(*grid)
    val = draw_cases(base, val_cases, VAL_SEED)
    out: dict[str, tuple] = {}
    factories = {}
    for n in names:
        net = DIANet(3, 1, 2, **SWEEP[n][0]).train()
        try:
            net(base["image"][None])
        except ValueError as err:
            out[n] = (float("nan"), float("nan"), sum(p.numel() for p in net.parameters()), str(err))
            continue
        factories[n] = lambda kw=SWEEP[n][0], w=SWEEP[n][1]: (DIANet(3, 1, 2, **kw), dianet_loss(w))
    runs = train_side_by_side(factories, base, seed, iterations)
    runs.pop("_stream")
    for name, r in runs.items():
        out[name] = (evaluate(r.model, val), r.clock, sum(p.numel() for p in r.model.parameters()))
        print(f"  seed {seed} {name:16s} val Dice {out[name][0]:.3f}  train {r.clock:.0f}s", flush=True)
    return out


def anatomy_sweep(args: argparse.Namespace) -> None:
    """Validation Dice of DIANet variants (``SWEEP``) on the ICBM task, for choosing the defaults. The variants
    are split over ``--jobs`` processes (round robin); within a process they train side by side on the same
    samples. Train times are comparable within a process only (the ratio column is against the variant trained
    first in the same process)."""
    names = args.configs or list(SWEEP)
    parts = [names[i :: args.jobs] for i in range(min(args.jobs, len(names)))]
    print(
        f"\n== DIANet defaults sweep: ICBM task, {args.iterations} iterations, seeds {args.seeds}, "
        f"{args.test_cases} validation draws, processes {parts} =="
    )
    threads = torch.get_num_threads()
    jobs = [
        (part, seed, args.iterations, args.test_cases, threads, tuple(args.grid))
        for seed in args.seeds
        for part in parts
    ]
    with multiprocessing.get_context("spawn").Pool(len(parts)) as pool:
        results = pool.starmap(_sweep_part, jobs)
    scores: dict[str, list[float]] = {n: [] for n in names}
    ratios: dict[str, list[float]] = {n: [] for n in names}
    params: dict[str, int] = {}
    errors: dict[str, str] = {}
    for (part, *_), res in zip(jobs, results):
        first = next(n for n in part if res[n][1] == res[n][1])
        for name in part:
            scores[name].append(res[name][0])
            ratios[name].append(res[name][1] / res[first][1])
            params[name] = res[name][2]
            if len(res[name]) > 3:
                errors[name] = res[name][3]
    print("| variant | settings | params | val Dice (mean of GM, WM) | train time / first variant of its process |")
    print("|---|---|---|---|---|")
    for name in names:
        kwargs, weights = SWEEP[name]
        desc = ", ".join(f"{k}={v}" for k, v in kwargs.items()) + (f"; DIANetLoss weights {weights}" if weights else "")
        dice = f"cannot train: {errors[name]}" if name in errors else _mean_sd(scores[name])
        print(
            f"| {name} | {desc or 'package defaults'} | {params[name] / 1e6:.2f} M | {dice} | "
            f"{_mean_sd(ratios[name])} |"
        )


# DIANet variants compared on validation; each entry: (DIANet kwargs, DIANetLoss weights or None for defaults)
SWEEP: dict[str, tuple[dict, dict | None]] = {
    "defaults": ({}, None),
    "group-norm-4": ({"norm": ("group", {"num_groups": 4})}, None),
    "batch-norm": ({"norm": "batch"}, None),
    "instance-norm": ({"norm": ("instance", {"affine": True})}, None),
    "width-0.25": ({"backbone_width": 0.25}, None),
    "resnet18": ({"backbone": "resnet18"}, None),
    "pyramid-3": ({"pyramid_levels": 3}, None),
    "decoder-32": ({"decoder_channels": 32}, None),
    "latent-plain": ({"codebook_size": 0, "diffuser": False}, None),
    "loss-dice-only": ({}, {"kl": 0.0}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, nargs="+", default=[3, 2], choices=(2, 3))
    parser.add_argument("--size", type=int, default=128, help="3D spatial size (1x4xS^3)")
    parser.add_argument("--size2d", type=int, default=256, help="2D spatial size (1x3xS^2)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--in-channels", type=int, default=None, help="input channels (default: 4 in 3D, 3 in 2D)")
    parser.add_argument("--out-channels", type=int, default=None, help="output channels (default: 3 in 3D, 2 in 2D)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=None, help="subset of model names")
    parser.add_argument("--no-backward", action="store_true", help="skip the forward+backward measurement")
    parser.add_argument("--skip-memory", action="store_true", help="skip the peak-memory measurement (NaN)")
    parser.add_argument("--anatomy", action="store_true", help="real-anatomy training comparison (see module doc)")
    parser.add_argument("--sweep", action="store_true", help="validation sweep of DIANet variants (real anatomy)")
    parser.add_argument("--configs", nargs="+", default=None, choices=sorted(SWEEP), help="sweep variants")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--test-cases", type=int, default=8, help="test (or, with --sweep, validation) draws")
    parser.add_argument("--jobs", type=int, default=1, help="--anatomy/--sweep: processes run at once")
    parser.add_argument(
        "--grid", type=float, nargs=2, default=(4.0, 64), metavar=("MM", "SIZE"),
        help="--anatomy/--sweep: voxel spacing (mm) and cubic size of the brain volumes (issue 16: 4 mm, 64)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and torch.cuda.is_available():
        print(f"device: {torch.cuda.get_device_name(torch.device(args.device))}")
    if args.sweep or args.anatomy:
        (anatomy_sweep if args.sweep else anatomy_benchmark)(args)
        return
    for dims in args.dims:
        if dims == 3:
            run(3, args.size, args.in_channels or 4, args.out_channels or 3, args)
        else:
            run(2, args.size2d, args.in_channels or 3, args.out_channels or 2, args)


if __name__ == "__main__":
    main()
