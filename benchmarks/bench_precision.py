# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""fp32 vs bf16 (or fp16) per bundle, on one trained checkpoint and the same evaluation cases, in one process.

For each bundle the checkpoint is trained once through the bundle's own ``train.json`` (small settings, below;
``--work`` keeps it for reruns). Then the bundle's own evaluators run twice on the same cases, once with
``amp=fp32`` and once with ``amp=<low>`` (the bundle option), and the script prints, low precision against fp32:

- ``time``: wall time of the evaluator run (data loading, inferer, post-processing, metrics, writers) and, less
  exposed to the other users of the machine, the inferer call on the first batch timed interleaved (best of
  ``--repeats``), as ratios low / fp32;
- ``memory``: peak resident memory above the run's start (sampled every 5 ms), as a ratio;
- ``max |dp|``: largest absolute difference of any output probability (the inferer's ``"mean"``);
- metric differences: Dice per region (BraTS), AUC/accuracy (TCGA), patch Dice/AUC and slide scores (CAMELYON);
- ``corr(u)``: Pearson correlation of the uncertainty maps (BraTS entropy of the router's output, TCGA mutual
  information per case, CAMELYON mutual information per patch);
- routing decisions that change: BraTS cases (ACWI router, thresholds fitted on the validation cases in fp32 by
  ``evaluate.json``, applied to both runs' fast/refined scores exactly as ``ACWIRouter`` does), CAMELYON slides
  (the slide router fitted by ``train.json``). TCGA has no router.

Cases: the bundle's evaluation split (BraTS and TCGA evaluate on their held-out validation cases, the bundles have
no separate test split; CAMELYON on its test slides). CPU only here: on a CPU without native bf16 (``"auto"`` then
picks fp32) the bf16 run measures the emulated path.

Usage::

    python benchmarks/bench_precision.py                                  # all three bundles, small settings
    python benchmarks/bench_precision.py --bundles brats --brats-shape 240 240 155 --brats-cases 5
    python benchmarks/bench_precision.py --low fp16 --work /tmp/bench_precision   # reuse trained checkpoints
"""

from __future__ import annotations

import argparse
import json
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch

REPO = Path(__file__).resolve().parents[1]
BUNDLES = REPO / "bundles"


class PeakRSS:
    """Peak resident memory of this process above its value on entry, sampled every 5 ms by a thread."""

    def __enter__(self) -> PeakRSS:
        self._proc = psutil.Process()
        self.start = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def mb(self) -> float:
        return (self.peak - self.start) / 2**20


class Recorder:
    """Wraps an evaluator's inferer: keeps the first call's arguments and every result (tensors on the CPU)."""

    def __init__(self, inferer: Callable) -> None:
        self.inferer = inferer
        self.outputs: list[Any] = []
        self.first: tuple | None = None

    def __call__(self, inputs: Any, network: Any, *args: Any, **kwargs: Any) -> Any:
        if self.first is None:
            self.first = (inputs, network, args, kwargs)
        out = self.inferer(inputs, network, *args, **kwargs)
        self.outputs.append(_cpu(out))
        return out


def _cpu(obj: Any) -> Any:
    from monai_dianet.utils import map_tensors

    return map_tensors(obj, lambda t: t.detach().cpu().clone())


def _parser(bundle: str, configs: list[str], overrides: dict):
    from monai.bundle import ConfigParser

    folder = BUNDLES / bundle / "configs"
    parser = ConfigParser()
    parser.read_config([str(folder / c) for c in configs])
    parser.read_meta(str(folder / "metadata.json"))
    parser.update(overrides)
    return parser


def _train(bundle: str, configs: list[str], overrides: dict, done: Path) -> None:
    """Train through the bundle's own workflow (skipped when ``done`` exists: a kept ``--work`` folder)."""
    from monai.bundle import run as bundle_run

    if done.exists():
        print(f"[{bundle}] reusing {done}", flush=True)
        return
    folder = BUNDLES / bundle / "configs"
    files = [str(folder / c) for c in configs]
    t0 = time.perf_counter()
    bundle_run(config_file=files if len(files) > 1 else files[0], meta_file=str(folder / "metadata.json"),
               logging_file=str(folder / "logging.conf"), **overrides)
    print(f"[{bundle}] trained in {time.perf_counter() - t0:.0f} s", flush=True)


def run_evaluators(bundle: str, configs: list[str], overrides: dict, keys: list[str], amp: str) -> dict:
    """Build the bundle's evaluators ``keys`` with ``amp`` and run them in order; time, memory, recorded outputs,
    metrics, and the parser (for writers' records)."""
    from monai.utils import set_determinism

    parser = _parser(bundle, configs, {**overrides, "amp": amp})
    set_determinism(seed=0)
    result: dict[str, Any] = {"parser": parser}
    for key in keys:
        evaluator = parser.get_parsed_content(key)
        rec = Recorder(evaluator.inferer)
        evaluator.inferer = rec
        for _ in evaluator.data_loader:  # untimed: file cache and lazy imports warm for both precisions alike
            pass
        set_determinism(seed=0)
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            evaluator.run()
            wall = time.perf_counter() - t0
        metrics = {k: float(v) for k, v in evaluator.state.metrics.items() if np.ndim(v) == 0}
        result[key] = {"time": wall, "mem_mb": mem.mb, "rec": rec, "metrics": metrics}
        print(f"[{bundle}] {key} {amp}: {wall:.1f} s, +{mem.mb:.0f} MB, {len(rec.outputs)} batches, {metrics}",
              flush=True)
    return result


def interleaved_ratio(rec_fp32: Recorder, rec_low: Recorder, repeats: int) -> float:
    """Best-of-``repeats`` time of the low-precision inferer over fp32 on the first batch, run interleaved."""
    from monai.utils import set_determinism

    inputs, network, args, kwargs = rec_fp32.first
    best = {"fp32": math.inf, "low": math.inf}
    for _ in range(repeats):
        for name, rec in (("fp32", rec_fp32), ("low", rec_low)):
            set_determinism(seed=0)
            t0 = time.perf_counter()
            with torch.no_grad():
                rec.inferer(inputs, network, *args, **kwargs)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best["low"] / best["fp32"]


def _flat(outputs: list[Any], key: str | None) -> np.ndarray:
    """``key`` of every recorded output, flattened; ``None``: the outputs are logits, softmax-ed (TCGA single pass)."""
    if key is None:
        return np.concatenate([torch.softmax(o.float(), 1).double().numpy().ravel() for o in outputs])
    return np.concatenate([np.asarray(o[key], dtype=np.float64).ravel() for o in outputs])


def compare(res32: dict, reslow: dict, key: str, prob_key: str | None, unc_key: str | None, repeats: int) -> dict:
    a, b = res32[key], reslow[key]
    p32, plow = _flat(a["rec"].outputs, prob_key), _flat(b["rec"].outputs, prob_key)
    row = {
        "time_ratio": b["time"] / a["time"],
        "call_ratio": interleaved_ratio(a["rec"], b["rec"], repeats),
        "mem_ratio": b["mem_mb"] / a["mem_mb"] if a["mem_mb"] > 0 else math.nan,
        "fp32_s": a["time"],
        "low_s": b["time"],
        "fp32_mb": a["mem_mb"],
        "low_mb": b["mem_mb"],
        "max_abs_dp": float(np.abs(p32 - plow).max()),
        "metric_diff": {k: b["metrics"][k] - v for k, v in a["metrics"].items() if k in b["metrics"]},
        "fp32_metrics": a["metrics"],
    }
    if unc_key is not None:
        u32, ulow = _flat(a["rec"].outputs, unc_key), _flat(b["rec"].outputs, unc_key)
        row["unc_corr"] = float(np.corrcoef(u32, ulow)[0, 1])
    return row


def _decisions(outputs: list[dict], thresholds: dict) -> list[str]:
    """ACWIRouter's rule on recorded scores (both paths ran for every case): accept when the fast score is at most
    the accept threshold, else review when the refined score exceeds the review threshold, else refine."""
    t_acc, t_rev = thresholds.get("accept"), thresholds.get("review")
    out = []
    for o in outputs:
        for fast, refined in zip(o["fast_score"].tolist(), o["refined_score"].tolist()):
            if t_acc is not None and fast <= t_acc:
                out.append("accept")
            else:
                out.append("review" if t_rev is not None and refined > t_rev else "refine")
    return out


def bench_brats(args, work: Path) -> dict:
    root = work / "brats"
    small = {"bundle_root": str(root), "synthetic_cases": args.brats_cases, "synthetic_shape": args.brats_shape,
             "roi_size": args.brats_roi, "prior_size": [16, 16, 16], "num_workers": 0, "val_fraction": 0.4,
             "max_epochs": args.epochs, "mc_samples": args.mc_samples}
    _train("dianet_brats_segmentation", ["train.json"], {**small, "amp": "fp32"}, root / "models" / "model.pt")
    configs = ["train.json", "evaluate.json"]
    key = "validate#evaluator"
    res = {}
    for amp, router_file in (("fp32", root / "models" / "router.json"), (args.low, work / "brats_scratch.json")):
        res[amp] = run_evaluators("dianet_brats_segmentation", configs, {
            **small, "router_file": str(router_file), "output_dir": str(work / f"brats_eval_{amp}")}, [key], amp)
    row = compare(res["fp32"], res[args.low], key, "mean", "entropy", args.repeats)
    thresholds = json.loads((root / "models" / "router.json").read_text())["thresholds"]
    d32 = _decisions(res["fp32"][key]["rec"].outputs, thresholds)
    dlow = _decisions(res[args.low][key]["rec"].outputs, thresholds)
    row["routing_changed"] = f"{sum(x != y for x, y in zip(d32, dlow))}/{len(d32)}"
    row["cases"] = len(d32)
    return row


def bench_tcga(args, work: Path) -> dict:
    root = work / "tcga"
    small = {"bundle_root": str(root), "synthetic_cases": args.tcga_cases, "patch_size": 32, "num_genes": 24,
             "batch_size": 8, "embed_dim": 16, "max_epochs": args.epochs}
    _train("onconet_tcga_classification", ["train.json"], {**small, "amp": "fp32"}, root / "models" / "model.pt")
    eval_over = {k: v for k, v in small.items() if k not in ("num_genes", "max_epochs")}
    res_eval, res_inf = {}, {}
    for amp in ("fp32", args.low):
        res_eval[amp] = run_evaluators("onconet_tcga_classification", ["evaluate.json"], {
            **eval_over, "output_dir": str(work / f"tcga_eval_{amp}")}, ["validate#evaluator"], amp)
        res_inf[amp] = run_evaluators("onconet_tcga_classification", ["inference.json"], {
            **eval_over, "mc_samples": args.mc_samples, "max_figures": 0,
            "output_dir": str(work / f"tcga_inf_{amp}")}, ["evaluator"], amp)
    row = compare(res_inf["fp32"], res_inf[args.low], "evaluator", "mean", "mutual_information", args.repeats)
    one = compare(res_eval["fp32"], res_eval[args.low], "validate#evaluator", None, None, args.repeats)
    row["metric_diff"], row["fp32_metrics"] = one["metric_diff"], one["fp32_metrics"]
    row["max_abs_dp_single_pass"] = one["max_abs_dp"]
    row["routing_changed"] = "n/a (no router)"
    row["cases"] = len(_flat(res_inf["fp32"]["evaluator"]["rec"].outputs, "entropy"))
    return row


def bench_camelyon(args, work: Path) -> dict:
    root = work / "camelyon"
    small = {"bundle_root": str(root), "synthetic_slides": args.camelyon_slides, "synthetic_size": args.camelyon_size,
             "working_mpp": 4.0, "patch_size": 32, "heatmap_level": 2, "num_patches": 256, "val_patches": 64,
             "eval_patches": 128, "batch_size": 32, "mc_samples": args.mc_samples, "num_workers": 0,
             "max_epochs": args.epochs}
    _train("dianet_camelyon_segmentation", ["train.json"], {**small, "amp": "fp32"}, root / "models" / "model.pt")
    keys = ["patches#evaluator", "slides#evaluator"]
    res = {amp: run_evaluators("dianet_camelyon_segmentation", ["evaluate.json"], {
        **small, "output_dir": str(work / f"camelyon_eval_{amp}")}, keys, amp) for amp in ("fp32", args.low)}
    row = compare(res["fp32"], res[args.low], "slides#evaluator", "mean", "mutual_information", args.repeats)
    patches = compare(res["fp32"], res[args.low], "patches#evaluator", "segmentation", None, args.repeats)
    row["metric_diff"], row["fp32_metrics"] = patches["metric_diff"], patches["fp32_metrics"]
    cls = {amp: _flat(res[amp]["patches#evaluator"]["rec"].outputs, "classification") for amp in res}
    from scipy.stats import spearmanr

    row["patch_scores"] = {"fp32_min": cls["fp32"].min(), "fp32_max": cls["fp32"].max(), "fp32_std": cls["fp32"].std(),
                           "distinct": {amp: len(np.unique(v)) for amp, v in cls.items()},
                           "spearman": spearmanr(cls["fp32"], cls[args.low]).correlation}
    print(f"[camelyon] patch classification probabilities: {row['patch_scores']}", flush=True)
    records = {amp: res[amp]["parser"].get_parsed_content("slides#writer").records for amp in res}
    r32, rlow = records["fp32"], records[args.low]
    decisions = [(a.get("routing") or {}).get("decision") for a in r32], [
        (b.get("routing") or {}).get("decision") for b in rlow]
    row["routing_changed"] = f"{sum(x != y for x, y in zip(*decisions))}/{len(r32)}"
    row["slide_score_max_diff"] = max(abs(a["slide_score"] - b["slide_score"]) for a, b in zip(r32, rlow))
    row["cases"] = len(r32)
    return row


def forward_brats(args, work: Path) -> dict:
    """One forward pass of the BraTS bundle's DIANet-3D (checkpoint of ``--work`` when trained there, else randomly
    initialised) on a ``(1, 4, *size)`` input, fp32 and low precision interleaved: time ratio, largest sigmoid
    probability difference and agreement of the 0.5-thresholded masks. For CPUs where the bundle's whole evaluation
    in emulated bf16 takes too long (``--brats-forward``)."""
    from monai_dianet.inferers import AutocastInferer

    parser = _parser("dianet_brats_segmentation", ["inference.json"], {"bundle_root": str(work / "brats"),
                                                                        "device": "$torch.device('cpu')"})
    net = parser.get_parsed_content("network_def").eval()
    ckpt = work / "brats" / "models" / "model.pt"
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        net.load_state_dict(state.get("model", state))  # CheckpointSaver stores a lone model's state dict bare
    x = torch.randn(1, 4, *args.brats_forward, generator=torch.Generator().manual_seed(0))
    times: dict[str, float] = {"fp32": math.inf, args.low: math.inf}
    probs = {}
    with torch.no_grad():
        for _ in range(args.repeats):
            for amp in times:
                t0 = time.perf_counter()
                probs[amp] = torch.sigmoid(AutocastInferer(None, amp)(x, net))
                times[amp] = min(times[amp], time.perf_counter() - t0)
    agree = ((probs["fp32"] > 0.5) == (probs[args.low] > 0.5)).float().mean()
    return {"input": [1, 4, *args.brats_forward], "checkpoint": ckpt.exists(), "fp32_s": times["fp32"],
            "low_s": times[args.low], "ratio": times[args.low] / times["fp32"],
            "max_abs_dp": float((probs["fp32"] - probs[args.low]).abs().max()), "mask_agreement": float(agree)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", nargs="+", default=["brats", "tcga", "camelyon"])
    parser.add_argument("--low", default="bf16", choices=["bf16", "fp16"], help="the precision compared with fp32")
    parser.add_argument("--work", default=None, help="folder for data and checkpoints (kept; default a temp dir)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--mc-samples", type=int, default=8)
    parser.add_argument("--brats-cases", type=int, default=5)
    parser.add_argument("--brats-shape", type=int, nargs=3, default=[64, 64, 48])
    parser.add_argument("--brats-roi", type=int, nargs=3, default=[64, 64, 48])
    parser.add_argument("--brats-forward", type=int, nargs=3, default=None,
                        help="instead of the BraTS evaluation: one DIANet-3D forward pass at this size")
    parser.add_argument("--tcga-cases", type=int, default=48)
    parser.add_argument("--camelyon-slides", type=int, default=6)
    parser.add_argument("--camelyon-size", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")

    import tempfile

    from monai_dianet.utils import cpu_has_native_bf16

    work = Path(args.work or tempfile.mkdtemp(prefix="bench_precision_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"CPU native bf16: {cpu_has_native_bf16()}; torch {torch.__version__}, {args.threads} threads; work {work}")
    fns = {"brats": bench_brats, "tcga": bench_tcga, "camelyon": bench_camelyon}
    if args.brats_forward:
        fwd = forward_brats(args, work)
        print(f"\nBraTS DIANet-3D forward {fwd['input']} (trained checkpoint: {fwd['checkpoint']}): fp32 "
              f"{fwd['fp32_s']:.2f} s, {args.low} {fwd['low_s']:.2f} s, ratio {fwd['ratio']:.2f}; max abs prob diff "
              f"{fwd['max_abs_dp']:.4f}; thresholded masks agree on {100 * fwd['mask_agreement']:.3f} % of voxels")
        args.bundles = [b for b in args.bundles if b != "brats"]
    rows = {name: fns[name](args, work) for name in args.bundles}
    if not rows:
        return
    print(f"\n| bundle | cases | time {args.low}/fp32 (run) | first-call ratio (interleaved) | peak mem ratio | "
          "max abs prob diff | metric diffs | uncertainty corr | routing changed |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        diffs = ", ".join(f"{k} {v:+.4f}" for k, v in r["metric_diff"].items())
        print(f"| {name} | {r['cases']} | {r['time_ratio']:.2f} ({r['low_s']:.0f} s / {r['fp32_s']:.0f} s) | "
              f"{r['call_ratio']:.2f} | {r['mem_ratio']:.2f} ({r['low_mb']:.0f} / {r['fp32_mb']:.0f} MB) | "
              f"{r['max_abs_dp']:.4f} | {diffs} | "
              f"{r.get('unc_corr', math.nan):.4f} | {r['routing_changed']} |")
    (work / "bench_precision.json").write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
