# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""DIANet vs SegResNet on BraTS-format data through the bundle's own configs, plus DIANet inference memory.

Both networks are trained by ``bundles/dianet_brats_segmentation/configs/train.json`` (SegResNet with
``train_segresnet.json`` on top, as in MONAI's own BraTS bundle), in this process, side by side, on the same generated
cases (both BraTS layouts), with the same ROI, learning rate, number of iterations and seed. Reported: validation
Dice per region (TC/WT/ET, sliding window, threshold 0.5), training time and sliding-window inference time, each as
the ratio DIANet / SegResNet.

Memory: a separate process (fresh interpreter, so ``ru_maxrss`` is its own) runs the inference.json path on one
random 4 x 240 x 240 x 155 volume (BraTS size) with a randomly initialised DIANet: the ACWI router's fast
sliding-window pass and its MC-dropout refine pass (the default when no thresholds are fitted), and reports the
process's peak resident memory (target < 4 GB on CPU).

Usage::

    python benchmarks/bench_brats.py --epochs 4 --cases 4 --shape 64 64 48 --roi 64 64 32
    python benchmarks/bench_brats.py --skip-train --memory          # memory only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def train_and_measure(name: str, configs: list[str], overrides: dict) -> dict:
    """Train with the bundle config, then time sliding-window inference on the validation cases."""
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
    val_ds = parser.get_parsed_content("validate#dataset")
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
        "val_cases": len(val_ds),
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=4, help="generated cases per layout (2021 and 2023)")
    ap.add_argument("--shape", type=int, nargs=3, default=(64, 64, 48))
    ap.add_argument("--roi", type=int, nargs=3, default=(64, 64, 32))
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--val-fraction", type=float, default=0.25)
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
        runs = [
            train_and_measure("SegResNet", ["train.json", "train_segresnet.json"], dict(common)),
            train_and_measure("DIANet", ["train.json"], dict(common)),
        ]
        seg, dia = runs
        results["runs"] = runs
        results["ratios_dianet_over_segresnet"] = {
            "train_time": dia["train_s"] / seg["train_s"],
            "inference_time": dia["infer_s"] / seg["infer_s"],
            **{f"dice_{r}": (dia["dice"][r] / seg["dice"][r] if seg["dice"][r] > 0 else None) for r in ("TC", "WT", "ET")},
            "mean_dice": dia["mean_dice"] / seg["mean_dice"] if seg["mean_dice"] > 0 else None,
        }
        print(f"{'model':<10} {'iters':>5} {'train s':>8} {'infer s':>8} {'Dice TC':>8} {'Dice WT':>8} {'Dice ET':>8} {'mean':>6}")
        for r in runs:
            print(
                f"{r['model']:<10} {r['iterations']:>5} {r['train_s']:>8.1f} {r['infer_s']:>8.2f} "
                f"{r['dice']['TC']:>8.3f} {r['dice']['WT']:>8.3f} {r['dice']['ET']:>8.3f} {r['mean_dice']:>6.3f}"
            )
        print("DIANet / SegResNet:", json.dumps(results["ratios_dianet_over_segresnet"]))
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
