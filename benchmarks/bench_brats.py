# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""DIANet vs SegResNet on BraTS-format data through the bundle's own configs, plus DIANet inference memory.

Both networks are trained by ``bundles/dianet_brats_segmentation/configs/train.json`` (SegResNet with
``train_segresnet.json`` on top, as in MONAI's own BraTS bundle), in this process, side by side, on the same generated
cases (both BraTS layouts), with the same ROI, learning rate, number of iterations and seed. Reported: validation
Dice per region (TC/WT/ET, sliding window, threshold 0.5), training time and sliding-window inference time, each as
the ratio DIANet / SegResNet. With ``--seeds``, both networks are trained once per seed (the training seed; the
split is fixed) and the summary gives mean +- sd over the seeds. With ``--test-fraction``, the split also holds out a
test set (``monai_dianet.data.split_datalist`` through the bundle's ``brats_datalists``) and the Dice is measured on
it instead of on the validation cases.

Memory: a separate process (fresh interpreter, so ``ru_maxrss`` is its own) runs the inference.json path on one
random 4 x 240 x 240 x 155 volume (BraTS size) with a randomly initialised DIANet: the ACWI router's fast
sliding-window pass and its MC-dropout refine pass (the default when no thresholds are fitted), and reports the
process's peak resident memory (target < 4 GB on CPU).

Usage::

    python benchmarks/bench_brats.py --epochs 4 --cases 4 --shape 64 64 48 --roi 64 64 32
    python benchmarks/bench_brats.py --cases 10 --test-fraction 0.4 --seeds 0 1 2   # 8 test cases, 3 seeds
    python benchmarks/bench_brats.py --skip-train --memory          # memory only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "bundles" / "dianet_brats_segmentation" / "configs"


def _parser(configs: list[str], **overrides):
    from monai_dianet.bundle import load_bundle_config

    return load_bundle_config(CONFIGS.parent, configs, overrides)


def train_and_measure(name: str, configs: list[str], overrides: dict, eval_split: str = "validation") -> dict:
    """Train with the bundle config, then time sliding-window inference on the ``eval_split`` cases."""
    from monai.data import Dataset
    from monai.inferers import sliding_window_inference
    from monai.metrics import DiceMetric, HausdorffDistanceMetric
    from monai.utils import set_determinism

    parser = _parser(configs, **overrides)
    set_determinism(seed=overrides.get("seed", 123))
    trainer = parser.get_parsed_content("train#trainer")
    parser.get_parsed_content("checkpoint#attach")
    if name == "DIANet":
        parser.get_parsed_content("spatial_prior")  # built once before timing (cached for later runs)
    t0 = time.perf_counter()
    trainer.run()
    train_s = time.perf_counter() - t0
    iterations = trainer.state.iteration

    network = parser.get_parsed_content("network").eval()
    eval_list = parser.get_parsed_content("datalists")[eval_split]
    val_ds = Dataset(eval_list, parser.get_parsed_content("validate#preprocessing"))
    roi = overrides["roi_size"]
    dice = DiceMetric(include_background=True, reduction="mean_batch")
    hd95 = HausdorffDistanceMetric(include_background=True, percentile=95, reduction="mean_batch")
    infer_s = 0.0
    with torch.no_grad():
        for i in range(len(val_ds)):
            item = val_ds[i]
            x = item["image"].as_tensor()[None]
            t1 = time.perf_counter()
            logits = sliding_window_inference(x, roi, 1, network, overlap=overrides.get("sw_overlap", 0.25))
            infer_s += time.perf_counter() - t1
            pred = (torch.sigmoid(logits) > 0.5).float()
            label = item["label"].as_tensor()[None]
            dice(pred, label)
            hd95(pred, label)
    d = dice.aggregate().tolist()
    h = hd95.aggregate().tolist()
    return {
        "model": name,
        "params_M": sum(p.numel() for p in network.parameters()) / 1e6,
        "iterations": iterations,
        "train_s": train_s,
        "infer_s": infer_s,
        "eval_split": eval_split,
        "eval_cases": len(val_ds),
        "dice": dict(zip(("TC", "WT", "ET"), d)),
        "mean_dice": sum(d) / 3,
        "hd95": dict(zip(("TC", "WT", "ET"), h)),
    }


def memory_child(args: argparse.Namespace) -> None:
    """Run in a fresh process: the inference.json routing path on one BraTS-size volume; print JSON."""
    parser = _parser(
        ["inference.json"],
        roi_size=list(args.mem_roi),
        mc_samples=args.mc_samples,
        device="$torch.device('cpu')",
        bundle_root=tempfile.gettempdir(),
    )
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    router = parser.get_parsed_content("router")
    network = parser.get_parsed_content("network").eval()
    x = torch.randn(1, 4, 240, 240, 155)
    t0 = time.perf_counter()
    pred = router(x, network)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        "MEMORY_JSON "
        + json.dumps(
            {
                "peak_rss_gb": peak / 1024**2,
                "rss_before_inference_gb": base / 1024**2,
                "seconds": elapsed,
                "decision": pred["decision"][0],
                "timings_ms": {k: float(pred[f"{k}_ms"][0]) for k in ("fast", "refine", "total")},
                "roi": list(args.mem_roi),
                "mc_samples": args.mc_samples,
                "output_shape": list(pred["mean"].shape),
            }
        )
    )


def _mean_sd(values: list[float], digits: int = 3) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} +- {sd:.{digits}f}"


def _summary(runs: list[dict], seeds: list[int], eval_split: str) -> dict:
    """Print and return mean +- sd over the seeds of each model's Dice and of DIANet / SegResNet's time ratios."""
    by_model = {m: [r for r in runs if r["model"] == m] for m in ("SegResNet", "DIANet")}
    print(f"\nmean +- sd over seeds {seeds}, {eval_split} split:")
    print("| model | train s | Dice TC | Dice WT | Dice ET | mean Dice |")
    print("|---|---|---|---|---|---|")
    summary: dict = {}
    for model, rs in by_model.items():
        cols = [[r["dice"][k] for r in rs] for k in ("TC", "WT", "ET")] + [[r["mean_dice"] for r in rs]]
        print(f"| {model} | {_mean_sd([r['train_s'] for r in rs], 1)} | " + " | ".join(_mean_sd(c) for c in cols) + " |")
        summary[model] = {"mean_dice": [r["mean_dice"] for r in rs], "train_s": [r["train_s"] for r in rs]}
    seg, dia = by_model["SegResNet"], by_model["DIANet"]
    diff = [d["mean_dice"] - s["mean_dice"] for s, d in zip(seg, dia)]
    time_ratio = [d["train_s"] / s["train_s"] for s, d in zip(seg, dia)]
    infer_ratio = [d["infer_s"] / s["infer_s"] for s, d in zip(seg, dia)]
    print(
        f"DIANet - SegResNet mean Dice: {_mean_sd(diff)} (per seed {', '.join(f'{d:+.3f}' for d in diff)}); "
        f"train time DIANet / SegResNet {_mean_sd(time_ratio)}; inference time {_mean_sd(infer_ratio)}"
    )
    summary.update({"dice_diff": diff, "train_time_ratio": time_ratio, "inference_time_ratio": infer_ratio})
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=4, help="generated cases per layout (2021 and 2023)")
    ap.add_argument("--shape", type=int, nargs=3, default=(64, 64, 48))
    ap.add_argument("--roi", type=int, nargs=3, default=(64, 64, 32))
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--val-fraction", type=float, default=0.25)
    ap.add_argument("--test-fraction", type=float, default=0.0, help="> 0: hold out a test split and score on it")
    ap.add_argument("--seeds", type=int, nargs="+", default=[123], help="training seeds (one run of each per seed)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--memory", action="store_true", help="also measure DIANet inference memory on 240x240x155")
    ap.add_argument("--mem-roi", type=int, nargs=3, default=(96, 96, 96))
    ap.add_argument("--mc-samples", type=int, default=8)
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=str, default="", help="write the results as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args)
        return

    results: dict = {"args": vars(args)}
    if not args.skip_train:
        from monai_dianet.apps.brats import prepare_brats_dataset

        work = Path(tempfile.mkdtemp(prefix="bench_brats_"))
        data_dir = prepare_brats_dataset("", work, num=args.cases, shape=args.shape)
        common = {
            "bundle_root": str(work),
            "dataset_dir": data_dir,
            "max_epochs": args.epochs,
            "val_interval": args.epochs,
            "roi_size": list(args.roi),
            "prior_size": [16, 16, 16],
            "learning_rate": args.lr,
            "num_workers": 0,
            "val_fraction": args.val_fraction,
            "seed": 123,
        }
        eval_split = "test" if args.test_fraction > 0 else "validation"
        common["datalists"] = (
            "$monai_dianet.apps.brats.brats_datalists(@data_dir, @datalist_json, val_fraction=@val_fraction, "
            f"seed=@split_seed, max_cases=@max_cases, test_fraction={args.test_fraction})"
        )
        results["runs"] = []
        for seed in args.seeds:
            overrides = dict(common, seed=seed)
            seg = train_and_measure("SegResNet", ["train.json", "train_segresnet.json"], dict(overrides), eval_split)
            dia = train_and_measure("DIANet", ["train.json"], dict(overrides), eval_split)
            results["runs"] += [dict(seg, seed=seed), dict(dia, seed=seed)]
            print(f"seed {seed}, {seg['eval_cases']} {eval_split} cases, {seg['iterations']} iterations each:")
            head = ("model", "train s", "infer s", "Dice TC", "Dice WT", "Dice ET", "mean")
            print(f"{head[0]:<10} " + " ".join(f"{h:>8}" for h in head[1:]))
            for r in (seg, dia):
                print(
                    f"{r['model']:<10} {r['train_s']:>8.1f} {r['infer_s']:>8.2f} "
                    f"{r['dice']['TC']:>8.3f} {r['dice']['WT']:>8.3f} {r['dice']['ET']:>8.3f} {r['mean_dice']:>8.3f}",
                    flush=True,
                )
        results["summary"] = _summary(results["runs"], args.seeds, eval_split)
    if args.memory:
        cmd = [sys.executable, __file__, "--memory-child", "--threads", str(args.threads), "--mc-samples",
               str(args.mc_samples), "--mem-roi", *map(str, args.mem_roi)]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("MEMORY_JSON ")]
        if proc.returncode != 0 or not line:
            raise RuntimeError(f"memory measurement failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        results["memory"] = json.loads(line[0][len("MEMORY_JSON "):])
        m = results["memory"]
        print(
            f"DIANet inference on 4x240x240x155 (fast pass + {m['mc_samples']}-sample MC dropout, roi {m['roi']}): "
            f"peak RSS {m['peak_rss_gb']:.2f} GB (target < 4 GB), {m['seconds']:.0f} s"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
