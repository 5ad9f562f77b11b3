# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""CAMELYON bundle benchmark: DIANet vs the ResNet-18 baseline, slide-inference throughput, raw OpenSlide reads.

(a) Both networks are trained through the bundle's own configs (``train.json``; ResNet-18 with
    ``train_resnet18.json`` on top: MONAI's ``resnet18`` patch classifier, Novograd, BCE, the
    ``pathology_tumor_detection`` recipe without torchvision), in this process, one after the other, on the same
    generated slides, split, patches, seed and number of iterations. Every choice is made on the validation slides
    (best checkpoint by the validation patch metric, the slide router's threshold); the test slides are then read
    once: patch AUC (classification head / classifier), lesion FROC (MONAI ``LesionFROC``, CAMELYON16 rules) and
    slide AUC, each also as the ratio DIANet / ResNet-18.
(b) Slide inference throughput of the bundle's path (``PatchWSIDataset`` in DataLoader workers reading the slides,
    DIANet MC-dropout inferer, heat-map stitching) divided by the model-only throughput on the same patches already
    in memory (same batches, same inferer): near 1 when reading is hidden behind compute (goal >= 0.8).
(c) Raw OpenSlide reads (``openslide.OpenSlide.read_region``) of random patches, patches/s, for reference, beside
    MONAI's ``PatchWSIDataset`` reading the same patches one by one.

Usage::

    python benchmarks/bench_camelyon.py --slides 12 --size 2048 --epochs 3 --patches 768 --threads 1   # (a)
    python benchmarks/bench_camelyon.py --skip-train --throughput --reads --slides 4 --size 2048   # (b) and (c) only
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "bundles" / "dianet_camelyon_segmentation" / "configs"
NETWORKS = {"DIANet": ["train.json"], "ResNet-18": ["train.json", "train_resnet18.json"]}


def _parser(configs: list[str], **overrides):
    from monai_dianet.bundle import load_bundle_config

    return load_bundle_config(CONFIGS.parent, configs, overrides)


def train_and_test(name: str, overrides: dict, out: Path) -> dict:
    """Train on the training slides, choose on the validation slides, then evaluate once on the test slides."""
    from monai.utils import set_determinism

    from monai_dianet.apps.pathology import SlideRouter, fit_router_on_validation, write_evaluation

    root = out / name
    parser = _parser(NETWORKS[name], bundle_root=str(root), **overrides)
    set_determinism(seed=overrides["seed"])
    trainer = parser.get_parsed_content("train#trainer")
    parser.get_parsed_content("checkpoint#attach")
    network = parser.get_parsed_content("network")
    t0 = time.perf_counter()
    trainer.run()
    train_s = time.perf_counter() - t0
    ckpt, router_file = parser.get_parsed_content("ckpt_path"), parser.get_parsed_content("router_file")
    # choices on validation: the best checkpoint (saved by the validation metric), then the router threshold
    parser.get_parsed_content("slides#evaluator").run()
    records = parser.get_parsed_content("slides#writer").records
    fit_router_on_validation(root / "validation", records, parser.get_parsed_content("slides#entries"), ckpt,
                             router_file, parser.get_parsed_content("router_target_error"))

    test = _parser(
        NETWORKS[name], bundle_root=str(root), **overrides,
        **{"validate#patches": "$monai_dianet.apps.pathology.sample_training_patches(@test_plans, @val_patches, "
                               "@tumour_fraction, seed=@seed + 2)",
           "test_plans": "$monai_dianet.apps.pathology.plan_slides(@splits['test'], **@slide_plan)",
           "slides#plans": "@test_plans", "slides#entries": "$@splits['test']",
           "slides#writer#output_dir": str(root / "test_slides"),
           "slides#router": f"$monai_dianet.apps.pathology.SlideRouter.load('{router_file}')"},
    )
    test_net = test.get_parsed_content("network")
    test_net.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True))
    patch_eval = test.get_parsed_content("validate#evaluator")
    patch_eval.run()
    t1 = time.perf_counter()
    test.get_parsed_content("slides#evaluator").run()
    slide_s = time.perf_counter() - t1
    summary, _ = write_evaluation(
        root / "test", test.get_parsed_content("slides#writer").records, test.get_parsed_content("slides#entries"),
        "test", ckpt, router_file, {k.replace("val_", "test_"): v for k, v in patch_eval.state.metrics.items()},
    )
    router = SlideRouter.load(router_file)
    return {
        "params_M": sum(p.numel() for p in network.parameters()) / 1e6,
        "iterations": trainer.state.iteration,
        "train_s": train_s,
        "test_slide_inference_s": slide_s,
        "test_slides": summary["slides"],
        "patch_auc": summary.get("test_patch_auc"),
        "patch_dice": summary.get("test_patch_dice"),
        "froc": (summary["froc"] or {}).get("froc"),
        "slide_auc": summary["slide_auc"],
        "category_kappa": summary["category_kappa"],
        "router_threshold": router.threshold,
        "validation": router.report.get("validation"),
    }


def throughput(data_root: str, overrides: dict, num_workers: int, repeats: int = 2) -> dict:
    """(b): patches/s of the bundle's slide inference (inference.json's evaluator: DataLoader workers reading the
    slides, MC-dropout inferer, stitching and writing every output) vs the same network and inferer on the same
    batches already in memory. Randomly initialised weights (the cost does not depend on them)."""
    from monai.data import DataLoader

    from monai_dianet.apps.pathology import patch_dataset

    handler = {"_target_": "monai_dianet.apps.pathology.SlideHeatmapHandler", "plans": "@plans", "writer": "@writer"}
    parser = _parser(["inference.json"], bundle_root=tempfile.mkdtemp(), router_file="none", handlers=[handler],
                     **{**overrides, "dataset_dir": data_root, "num_workers": num_workers})
    evaluator = parser.get_parsed_content("evaluator")
    network, inferer = parser.get_parsed_content("network").eval(), parser.get_parsed_content("inferer")
    entries = [e for p in parser.get_parsed_content("plans") for e in p.entries()]
    loader = DataLoader(patch_dataset(entries, parser.get_parsed_content("preprocessing")),
                        batch_size=parser.get_parsed_content("batch_size"), num_workers=0)
    batches = [b["image"].as_tensor() for b in loader]

    def model_only() -> float:
        t = time.perf_counter()
        with torch.no_grad():
            for x in batches:
                inferer(x, network)
        return time.perf_counter() - t

    def end_to_end() -> float:
        t = time.perf_counter()
        evaluator.run()
        return time.perf_counter() - t

    model_s, e2e_s = [], []
    for _ in range(repeats):  # interleaved, so both see the same load
        model_s.append(model_only())
        e2e_s.append(end_to_end())
    n = len(entries)
    return {"patches": n, "slides": len(parser.get_parsed_content("plans")), "num_workers": num_workers,
            "model_only_patches_per_s": n / min(model_s), "end_to_end_patches_per_s": n / min(e2e_s),
            "ratio": min(model_s) / min(e2e_s)}


def reads(data_root: str, patch: int, count: int, seed: int = 0) -> dict:
    """(c): random ``patch``-pixel level-0 reads per second, raw OpenSlide vs MONAI ``PatchWSIDataset``."""
    import openslide

    from monai_dianet.apps.pathology import camelyon_datalist, patch_dataset

    slides = [e["image"] for e in camelyon_datalist(data_root)]
    rng = np.random.default_rng(seed)
    handles = {s: openslide.OpenSlide(s) for s in slides}
    picks = []
    for _ in range(count):
        s = slides[rng.integers(len(slides))]
        w, h = handles[s].dimensions
        picks.append((s, int(rng.integers(0, h - patch)), int(rng.integers(0, w - patch))))
    t = time.perf_counter()
    for s, r, c in picks:
        np.asarray(handles[s].read_region((c, r), 0, (patch, patch)).convert("RGB"))
    raw = count / (time.perf_counter() - t)
    dataset = patch_dataset([{"image": s, "location": [r, c], "size": [patch, patch], "level": 0, "name": "",
                              "annotation": "", "extent": patch} for s, r, c in picks])
    t = time.perf_counter()
    for i in range(count):
        dataset[i]
    monai = count / (time.perf_counter() - t)
    for handle in handles.values():
        handle.close()
    return {"patch": patch, "reads": count, "openslide_patches_per_s": raw, "patchwsidataset_patches_per_s": monai}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slides", type=int, default=16)
    parser.add_argument("--size", type=int, default=3072)
    parser.add_argument("--mpp", type=float, default=1.0)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--patches", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--working-mpp", type=float, default=1.0)
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--mc-samples", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--reads", action="store_true")
    parser.add_argument("--read-count", type=int, default=400)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from monai_dianet.data import prepare_embedded_data
    from monai_dianet.data.synthetic import generate_camelyon

    work = Path(tempfile.mkdtemp(prefix="bench_camelyon_"))
    data_root = prepare_embedded_data(None, work / "data", generate_camelyon, num=args.slides, size=args.size,
                                      mpp=args.mpp, seed=args.data_seed, tumor_fraction=0.5, exclusions=True)
    overrides = {"dataset_dir": data_root, "max_epochs": args.epochs, "num_patches": args.patches,
                 "batch_size": args.batch, "learning_rate": args.lr, "seed": args.seed, "num_workers": args.workers,
                 "working_mpp": args.working_mpp, "patch_size": args.patch_size, "mc_samples": args.mc_samples}
    results: dict = {"settings": vars(args) | {"out": str(args.out)}}
    if not args.skip_train:
        rows = {name: train_and_test(name, overrides, work) for name in NETWORKS}
        results["training"] = rows
        keys = ("params_M", "iterations", "train_s", "test_slide_inference_s", "patch_auc", "patch_dice", "froc",
                "slide_auc", "category_kappa")
        print("| model | " + " | ".join(keys) + " |")
        print("|---" * (len(keys) + 1) + "|")
        for name, row in rows.items():
            print(f"| {name} | " + " | ".join("-" if row[k] is None else f"{row[k]:.3f}" for k in keys) + " |")
        ratio = {k: (rows["DIANet"][k] / rows["ResNet-18"][k]) if rows["DIANet"][k] is not None and
                 rows["ResNet-18"][k] not in (None, 0) else None for k in keys if k != "patch_dice"}
        results["ratios"] = ratio
        print("| **DIANet / ResNet-18** | " + " | ".join(
            "" if k == "patch_dice" or ratio.get(k) is None else f"**{ratio[k]:.2f}**" for k in keys) + " |")
    if args.throughput:
        results["throughput"] = throughput(data_root, overrides, args.workers)
        print(json.dumps(results["throughput"], indent=1))
    if args.reads:
        results["reads"] = reads(data_root, 256, args.read_count)
        print(json.dumps(results["reads"], indent=1))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
