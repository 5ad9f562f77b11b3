# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Uncertainty that finds the errors: DIANet's uncertainty methods against a 5-member deep ensemble, in one run.

Two tasks, each with validation and test cases in-domain and the same cases under a scanner-like shift
(:class:`~monai_dianet.transforms.RandDomainShift`):

- ``seg``: BraTS-format segmentation (TC/WT/ET, sigmoid) of generated cases (``monai_dianet.data.synthetic``,
  NIfTI files read back with MONAI, 32^3 voxels), DIANet-3D with the BraTS bundle's architecture at a quarter of
  its width (so that seven models train in minutes on 2 cores);
- ``cls``: 2D lesion-presence classification (``monai_dianet.data.synthetic.domain_shift``), DIANet-2D.

Methods: ``one_pass`` (softmax/sigmoid entropy of one deterministic pass), ``mc_head`` (MC dropout at the heads,
T=10, today's default), ``mc_deep`` (MC dropout in the decoder, ``dropout_placement="decoder"``, for ``seg``; after
every stage, ``"all"``, for ``cls``, whose head has no decoder), ``tta`` (flips, small affine and intensity, 3
augmentations + the original, inverted onto the input), ``ensemble5`` (5 members trained from 5 seeds),
``hetero_mc`` (heteroscedastic head trained with the attenuated loss, MC dropout T=10, with its aleatoric map),
``flip_mc`` (head MC dropout, T=5 on the input and T=5 on its flip along the first axis), ``tta_flip`` (the input and
its flip along the first axis, no dropout: two passes). Single-model methods run on each of the first
``--eval-members`` ensemble members (mean +- sd over those seeds).

Per method, on the test cases (every choice made on the validation cases): cost as a ratio to one pass (timed side
by side in this process), error-detection AUROC (uncertainty of a voxel / case vs whether it is wrong; ``seg``:
voxels of the head, with the uncertainty map chosen on validation; ``cls``: cases), AURC of the case ranking minus
the oracle's (E-AURC; the (map, case score) pair chosen on validation by AURC, among the scores of
``monai_dianet.metrics.case_scores`` for ``seg``), NLL and ECE before / after temperature scaling (temperature fitted
on validation), shift-detection AUROC (case score, in-domain vs shifted test cases) and the error of the accepted
cases when the 20 % most uncertain go to review (threshold = validation quantile) against no routing. The default
is the method with the best validation error-detection AUROC among those costing at most ``--max-cost`` x one pass.
Figures: reliability diagrams and risk-coverage curves (PNG) under ``--out``.

A seg case counts as wrong when its mean Dice over TC/WT/ET is below ``--min-dice`` (the ACWI router's rule); a seg
voxel is wrong when any of its three region labels is. Trained models are cached in ``--out/models`` (atomic
saves): a rerun with the same options reuses them.

Usage::

    python benchmarks/bench_uncertainty.py --out /tmp/bench_uncertainty --threads 1
    python benchmarks/bench_uncertainty.py --out /tmp/u --seg-cases 12 --cls-cases 60 --seg-iters 4 --cls-iters 4 \\
        --eval-members 1 --mc-samples 2   # smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss, DiceLoss
from monai.metrics import DiceMetric
from monai.transforms import (
    Compose,
    ConvertToMultiChannelBasedOnBratsClassesd,
    Flip,
    EnsureTyped,
    LoadImaged,
    NormalizeIntensityd,
    RandFlipd,
    RandScaleIntensityd,
    RandShiftIntensityd,
)
from monai.utils import set_determinism
from sklearn.metrics import roc_auc_score

from monai_dianet.data import split_datalist
from monai_dianet.data.synthetic import generate_brats
from monai_dianet.data.synthetic.domain_shift import DEFAULT_TARGET_SHIFT, generate_lesion_slice
from monai_dianet.inferers import EnsembleInferer, MCDropoutInferer, TTAInferer, risk_coverage_curve, select_case_score
from monai_dianet.losses import HeteroscedasticLoss
from monai_dianet.metrics import (
    RunningUncertainty,
    TemperatureScaling,
    reliability_diagram_data,
    segmentation_case_scores,
)
from monai_dianet.networks.nets import DIANet
from monai_dianet.transforms import RandDomainShift, RandDomainShiftd
from monai_dianet.visualize.plots import save_reliability_diagram, save_risk_coverage_curve

METHODS = ("one_pass", "mc_head", "mc_deep", "tta", "ensemble5", "hetero_mc", "flip_mc", "tta_flip")
MAPS = ("entropy", "mutual_information", "variance", "aleatoric")
#: the scanner-like shift of the seg task, on the raw intensities before normalisation (gamma and a bias field
#: keep the zero background at zero, so the normalisation's foreground stays the head); chosen so that a model
#: trained in-domain loses Dice on validation cases (benchmarks/RESULTS.md)
SEG_SHIFT = {"gamma": 2.0, "bias_field": 0.4}
SEG_SHAPE = (32, 32, 32)
VOXELS_PER_CASE = 4000
REVIEW_BUDGET = 0.2


# data ----------------------------------------------------------------------------------------------------------------


def seg_data(root: Path, num: int, seed: int) -> dict[str, list[dict]]:
    """Generated BraTS 2021 cases on disk, split (train/val/test), loaded; val and test also shifted."""
    entries = generate_brats(root / "brats", num=num, seed=seed, shape=SEG_SHAPE)
    splits = split_datalist(entries, val_fraction=0.25, test_fraction=0.25, seed=seed)
    load = Compose(
        [
            LoadImaged(["image", "label"], ensure_channel_first=True, image_only=True),
            ConvertToMultiChannelBasedOnBratsClassesd("label"),
            EnsureTyped(["image", "label"], dtype=torch.float32, track_meta=False),
        ]
    )
    norm = NormalizeIntensityd("image", nonzero=True, channel_wise=True)
    shift = RandDomainShiftd("image", **SEG_SHIFT)
    out: dict[str, list[dict]] = {}
    for split in ("training", "validation", "test"):
        cases = [load(dict(e)) for e in splits[split]]
        out[split] = [dict(norm(dict(c)), shifted=False) for c in cases]
        if split != "training":
            shifted = []
            for i, c in enumerate(cases):
                shift.set_random_state(seed + 1000 + i)
                shifted.append(dict(norm(shift(dict(c))), shifted=True))
            out[split + "_shifted"] = shifted
    return out


def cls_data(num: int, seed: int, size: int = 32) -> dict[str, list[dict]]:
    """Lesion / no-lesion 2D slices, split (stratified), val and test also under the default target scanner."""
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(num):
        label = i % 2
        image, _ = generate_lesion_slice(rng, size=size, max_lesions=3 * label, min_lesions=label)
        entries.append({"case_id": f"case{i:04d}", "label": label, "image": torch.as_tensor(image)})
    splits = split_datalist(entries, val_fraction=0.2, test_fraction=0.2, seed=seed, label_key="label")
    shift = RandDomainShift(**DEFAULT_TARGET_SHIFT)
    out: dict[str, list[dict]] = {}
    for split in ("training", "validation", "test"):
        out[split] = [dict(e, shifted=False) for e in splits[split]]
        if split != "training":
            shifted = []
            for i, e in enumerate(splits[split]):
                shift.set_random_state(seed + 1000 + i)
                shifted.append(dict(e, image=torch.as_tensor(shift(e["image"])).float(), shifted=True))
            out[split + "_shifted"] = shifted
    return out


# models --------------------------------------------------------------------------------------------------------------


def seg_net(placement: str = "head", heteroscedastic: bool = False) -> DIANet:
    """The BraTS bundle's DIANet-3D (group norm, codebook, diffuser) at a quarter of its width so that seven models
    train in minutes on 2 cores: resnet10 at width 0.25, pyramid 32, latent 16, decoder 8."""
    return DIANet(3, 4, 3, tasks=("segmentation",), norm=("group", {"num_groups": 8}), backbone_width=0.25,
                  fusion_channels=32, latent_channels=16, codebook_size=32, decoder_channels=8, dropout=0.2,
                  dropout_placement=placement, heteroscedastic=heteroscedastic)


def cls_net(placement: str = "head", heteroscedastic: bool = False) -> DIANet:
    """DIANet-2D classifier of the domain-adaptation benchmark (resnet10 half width, pyramid 32, latent 16)."""
    return DIANet(2, 1, 2, tasks=("classification",), codebook_size=0, diffuser=False, fusion_channels=32,
                  latent_channels=16, dropout=0.2, dropout_placement=placement, heteroscedastic=heteroscedastic)


def _batches(cases: list[dict], batch: int, rng: np.random.Generator, transform: Callable | None):
    while True:
        for start in range(0, len(cases) - batch + 1, batch):
            idx = rng.permutation(len(cases))[:batch]
            items = [transform(dict(cases[i])) if transform is not None else cases[i] for i in idx]
            x = torch.stack([torch.as_tensor(it["image"]) for it in items])
            y = torch.stack([torch.as_tensor(it["label"]) for it in items])
            yield x.float(), y


def train(task: str, name: str, net: DIANet, cases: list[dict], iters: int, seed: int, models: Path) -> DIANet:
    """Train (or load the cached) model ``name``; Adam with cosine decay; seg: DiceCE (+ attenuated BCE for the
    heteroscedastic head), flips and intensity augmentation; cls: cross-entropy (or the attenuated softmax loss)."""
    path = models / f"{task}_{name}.pt"
    if path.is_file():
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return net.eval()
    torch.manual_seed(seed)
    set_determinism(seed)
    rng = np.random.default_rng(seed)
    head = net.tasks[0]
    hetero = net.heads[head].logvar is not None
    if task == "seg":
        aug = Compose([RandFlipd(["image", "label"], 0.5, spatial_axis=a) for a in range(3)]
                      + [RandScaleIntensityd("image", 0.1, 1.0), RandShiftIntensityd("image", 0.1, prob=1.0)])
        aug.set_random_state(seed)
        batches, lr = _batches(cases, 1, rng, aug), 1e-2
        dice, dice_ce, att = DiceLoss(sigmoid=True), DiceCELoss(sigmoid=True), HeteroscedasticLoss("sigmoid")
    else:
        batches, lr = _batches(cases, 16, rng, None), 1e-3
        att = HeteroscedasticLoss("softmax")
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)
    net.train()
    t0 = time.perf_counter()
    for it in range(iters):
        x, y = next(batches)
        out = net(x, return_all=True)
        logits = out.main
        if hetero:
            y = y.float() if task == "seg" else y
            loss = att(logits, out.aleatoric_logvar[head], y) + (dice(logits, y) if task == "seg" else 0.0)
        else:
            loss = dice_ce(logits, y.float()) if task == "seg" else F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (it + 1) % max(1, iters // 5) == 0:
            elapsed = time.perf_counter() - t0
            print(f"  {task} {name}: iteration {it + 1}/{iters}, loss {loss.item():.4f} ({elapsed:.0f} s)", flush=True)
    net.eval()
    tmp = path.with_suffix(".tmp")
    torch.save(net.state_dict(), tmp)
    os.replace(tmp, path)
    return net


# methods -------------------------------------------------------------------------------------------------------------


class OnePass:
    """One deterministic pass, reduced like the sampling inferers (variance and mutual information are 0)."""

    def __init__(self, activation: str) -> None:
        self.activation = activation

    def __call__(self, x: torch.Tensor, network: DIANet) -> dict[str, torch.Tensor]:
        acc = RunningUncertainty(self.activation)
        out = network(x, return_all=True)
        acc.add(out.main, out.aleatoric_logvar.get(network.tasks[0]))
        return acc.moments()


def method_runs(task: str, nets: dict[str, DIANet], members: list[DIANet], eval_members: int, samples: int):
    """``{(method, run index): (inferer, network)}`` for every method and evaluated member."""
    act = "sigmoid" if task == "seg" else "softmax"
    mc = MCDropoutInferer(num_samples=samples, activation=act, seed=0)
    runs = {}
    for k, m in enumerate(members[:eval_members]):
        runs[("one_pass", k)] = (OnePass(act), m)
        runs[("mc_head", k)] = (mc, m)
        runs[("tta", k)] = (TTAInferer(num_augmentations=3, activation=act, seed=0), m)
        runs[("flip_mc", k)] = (MCDropoutInferer(max(1, samples // 2), act, tta_flips=[0], seed=0), m)
        runs[("tta_flip", k)] = (TTAInferer(Flip(spatial_axis=0), 1, activation=act, batched=True), m)
    runs[("mc_deep", 0)] = (mc, nets["deep"])
    runs[("hetero_mc", 0)] = (mc, nets["hetero"])
    runs[("ensemble5", 0)] = (EnsembleInferer(members, act), None)
    return runs


def time_methods(runs: dict, x: torch.Tensor, repeats: int = 3) -> dict[str, float]:
    """Best-of-``repeats`` wall time of each method (run 0) on ``x``, interleaved, as a ratio to one pass."""
    fns = {m: runs[(m, 0)] for m in METHODS}
    best = {m: float("inf") for m in METHODS}
    with torch.no_grad():
        for r in range(repeats + 1):
            for m, (inferer, net) in fns.items():
                t0 = time.perf_counter()
                inferer(x, net)
                if r:  # the first round warms up
                    best[m] = min(best[m], time.perf_counter() - t0)
    return {m: best[m] / best["one_pass"] for m in METHODS}


# per-case records ----------------------------------------------------------------------------------------------------


def _maps(pred: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every uncertainty map as one value per voxel / case (channels summed)."""
    return {k: pred[k].sum(1, keepdim=True) for k in MAPS if k in pred}


def seg_record(pred: dict[str, torch.Tensor], case: dict, voxels: np.ndarray, min_dice: float) -> dict:
    mean, label = pred["mean"], torch.as_tensor(case["label"])[None].bool()
    hard = mean > 0.5
    dice = DiceMetric(include_background=True, reduction="none", ignore_empty=False)(hard.float(), label.float())
    maps = _maps(pred)
    scores = {}
    for name, u in maps.items():
        for score, value in segmentation_case_scores({"mean": mean, name: u}, name, "sigmoid").items():
            scores[f"{name}/{score}"] = float(value[0])
    flat = lambda t: t[0].reshape(t.shape[1], -1)[:, voxels].numpy()  # noqa: E731
    return {
        "dice": float(dice.mean()),
        "correct": float(dice.mean()) >= min_dice,
        "shifted": case["shifted"],
        "scores": scores,
        "probs": flat(mean).astype(np.float32),
        "labels": flat(label).astype(bool),
        "maps": {k: flat(v)[0].astype(np.float32) for k, v in maps.items()},
    }


def cls_record(pred: dict[str, torch.Tensor], cases: list[dict]) -> list[dict]:
    maps = _maps(pred)
    recs = []
    for i, case in enumerate(cases):
        p = pred["mean"][i].numpy()
        recs.append({
            "correct": int(p.argmax()) == int(case["label"]),
            "shifted": case["shifted"],
            "scores": {f"{k}/case": float(v[i, 0]) for k, v in maps.items()},
            "probs": p[:, None].astype(np.float32),
            "labels": np.asarray([[int(case["label"])]]),
            "maps": {k: np.asarray([float(v[i, 0])], np.float32) for k, v in maps.items()},
        })
    return recs


def head_voxels(case: dict, rng: np.random.Generator) -> np.ndarray:
    """A fixed uniform sample of the head's voxels (any non-zero input channel)."""
    head = np.flatnonzero(torch.as_tensor(case["image"]).abs().sum(0).reshape(-1).numpy() > 0)
    return np.sort(rng.choice(head, size=min(VOXELS_PER_CASE, head.size), replace=False))


def run_method(task: str, run: tuple, cases: list[dict], min_dice: float, seed: int) -> list[dict]:
    """One record per case of one method run (``(inferer, network)``)."""
    inferer, net = run
    recs: list[dict] = []
    with torch.no_grad():
        if task == "cls":
            for start in range(0, len(cases), 64):
                chunk = cases[start : start + 64]
                recs += cls_record(inferer(torch.stack([c["image"] for c in chunk]), net), chunk)
            return recs
        for i, case in enumerate(cases):
            voxels = head_voxels(case, np.random.default_rng(seed + i))
            recs.append(seg_record(inferer(torch.as_tensor(case["image"])[None], net), case, voxels, min_dice))
    return recs


# metrics -------------------------------------------------------------------------------------------------------------


def _auroc(positive: np.ndarray, score: np.ndarray) -> float:
    positive = np.asarray(positive, bool)
    return float(roc_auc_score(positive, score)) if 0 < positive.sum() < positive.size else float("nan")


def _pool(recs: list[dict], key: str) -> np.ndarray:
    return np.concatenate([r[key] for r in recs], axis=-1)


def _wrong(recs: list[dict], activation: str) -> np.ndarray:
    """Whether each pooled voxel / case is wrong: any sigmoid label differs, or the softmax argmax does."""
    probs, labels = _pool(recs, "probs"), _pool(recs, "labels")
    if activation == "sigmoid":
        return ((probs > 0.5) != labels).any(0)
    return probs.argmax(0) != labels[0]


def _logits_of_mean(probs: np.ndarray, activation: str) -> torch.Tensor:
    p = torch.as_tensor(probs).clamp(1e-6, 1 - 1e-6)
    return torch.logit(p) if activation == "sigmoid" else torch.log(p)


def _calibration(val: list[dict], test: list[dict], activation: str) -> tuple[dict, TemperatureScaling]:
    """NLL and ECE of the test cases' mean probabilities before and after temperature scaling fitted on validation."""

    def tensors(recs):
        logits = _logits_of_mean(_pool(recs, "probs"), activation)  # (C, N)
        labels = torch.as_tensor(_pool(recs, "labels"))
        if activation == "sigmoid":
            return logits.T, labels.T.float()
        return logits.T, labels[0].long()

    lv, yv = tensors(val)
    lt, yt = tensors(test)
    ts = TemperatureScaling(activation=activation).fit(lv, yv)
    plain = TemperatureScaling(activation=activation)
    act = torch.sigmoid if activation == "sigmoid" else (lambda z: torch.softmax(z, 1))
    return {
        "nll": plain.nll(lt, yt),
        "nll_ts": ts.nll(lt, yt),
        "ece": reliability_diagram_data(act(lt), yt, activation=activation)["ece"],
        "ece_ts": reliability_diagram_data(act(ts(lt)), yt, activation=activation)["ece"],
        "temperature": ts.temperature,
    }, ts


def evaluate(val: list[dict], test: list[dict], activation: str) -> dict:
    """Every figure of one method run: choices on ``val``, figures on ``test``."""
    maps = list(val[0]["maps"])

    def pooled(recs, m):
        return np.concatenate([r["maps"][m] for r in recs])

    auroc_val = {m: _auroc(_wrong(val, activation), pooled(val, m)) for m in maps}
    best_map = max(maps, key=lambda m: -1.0 if math.isnan(auroc_val[m]) else auroc_val[m])
    res = {"map": best_map, "auroc_val": auroc_val[best_map],
           "auroc": _auroc(_wrong(test, activation), pooled(test, best_map))}
    # case ranking: (map, score) pair with the lowest validation AURC, as the ACWI router's fit chooses
    cv = np.array([r["correct"] for r in val])
    score = select_case_score({n: [r["scores"][n] for r in val] for n in val[0]["scores"]}, cv)["chosen"]
    ct = np.array([r["correct"] for r in test])
    st = np.array([r["scores"][score] for r in test])
    sv = np.array([r["scores"][score] for r in val])
    curve = risk_coverage_curve(st, ct)
    oracle = risk_coverage_curve(np.where(ct, 0.0, 1.0), ct)
    threshold = float(np.quantile(sv, 1.0 - REVIEW_BUDGET))
    accepted = st <= threshold
    shifted = np.array([r["shifted"] for r in test])
    res.update(
        score=score,
        case_auroc=_auroc(~ct, st),
        aurc=curve["aurc"],
        e_aurc=curve["aurc"] - oracle["aurc"],
        shift_auroc=_auroc(shifted, st),
        error_all=float((~ct).mean()),
        error_accepted=float((~ct[accepted]).mean()) if accepted.any() else float("nan"),
        reviewed=float((~accepted).mean()),
        curve=(curve["coverage"], curve["risk"]),
    )
    cal, ts = _calibration(val, test, activation)
    res.update(cal)
    probs, labels = _pool(test, "probs"), torch.as_tensor(_pool(test, "labels"))
    logits = _logits_of_mean(probs, activation).T
    y = labels.T.float() if activation == "sigmoid" else labels[0].long()
    act = torch.sigmoid if activation == "sigmoid" else (lambda z: torch.softmax(z, 1))
    res["reliability"] = reliability_diagram_data(act(logits), y, activation=activation)
    res["reliability_ts"] = reliability_diagram_data(act(ts(logits)), y, activation=activation)
    return res


# report --------------------------------------------------------------------------------------------------------------

COLUMNS = ("auroc", "case_auroc", "e_aurc", "nll", "nll_ts", "ece", "ece_ts", "shift_auroc", "error_accepted",
           "error_all", "reviewed")


def summarise(results: dict, cost: dict) -> dict:
    """``{method: {column: (mean, sd, n)}}`` over the method's runs (members)."""
    table = {}
    for m in METHODS:
        runs = [r for (meth, _), r in results.items() if meth == m]
        row = {"cost": (cost[m], 0.0, 1)}
        for c in COLUMNS + ("auroc_val",):
            v = np.array([r[c] for r in runs], float)
            row[c] = (float(np.nanmean(v)), float(np.nanstd(v, ddof=1)) if v.size > 1 else 0.0, v.size)
        row["choice"] = f"{runs[0]['map']} | {runs[0]['score']}"
        table[m] = row
    return table


def choose_default(table: dict, max_cost: float) -> str:
    cheap = [m for m in METHODS if m != "ensemble5" and table[m]["cost"][0] <= max_cost]
    return max(cheap, key=lambda m: (table[m]["auroc_val"][0], -table[m]["cost"][0]))


def print_table(task: str, table: dict, default: str) -> None:
    def f(v):
        mean, sd, n = v
        return f"{mean:.3f}" + (f"+-{sd:.3f}" if n > 1 else "")

    head = ("method", "cost x", "err AUROC", "case AUROC", "E-AURC", "NLL", "NLL ts", "ECE", "ECE ts", "shift AUROC",
            "err@20%", "err all", "reviewed", "chosen map | case score")
    print(f"\n[{task}] test cases (in-domain + shifted); choices on validation")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for m in METHODS:
        r = table[m]
        name = m + (" (default)" if m == default else "")
        cells = [name, f"{r['cost'][0]:.2f}"] + [f(r[c]) for c in COLUMNS] + [r["choice"]]
        print("| " + " | ".join(cells) + " |")


def save_figures(task: str, results: dict, default: str, out: Path) -> None:
    curves, aurc = {}, {}
    for m in METHODS:
        r = results[(m, 0)]
        curves[m] = r["curve"]
        aurc[m] = r["aurc"]
    save_risk_coverage_curve(out / f"{task}_risk_coverage.png", curves, aurc=aurc,
                             title=f"{task}: risk-coverage on test cases (default {default})")
    for m in sorted({"one_pass", "ensemble5", default}):
        for key, label in (("reliability", "before"), ("reliability_ts", "after temperature scaling")):
            save_reliability_diagram(out / f"{task}_reliability_{m}_{key}.png", results[(m, 0)][key],
                                     title=f"{task} {m}, {label}")


# main ----------------------------------------------------------------------------------------------------------------


def run_task(task: str, args: argparse.Namespace, out: Path) -> dict:
    print(f"== task {task}", flush=True)
    models = out / "models"  # cached models and records belong to one set of options: use a new --out to change them
    models.mkdir(parents=True, exist_ok=True)
    if task == "seg":
        data = seg_data(out, args.seg_cases, args.seed)
        make, iters, deep = seg_net, args.seg_iters, "decoder"
    else:
        data = cls_data(args.cls_cases, args.seed)
        make, iters, deep = cls_net, args.cls_iters, "all"
    print("  cases: " + ", ".join(f"{k} {len(v)}" for k, v in data.items()), flush=True)
    members = []
    for k in range(args.members):
        torch.manual_seed(args.seed + k)
        members.append(train(task, f"member{k}", make(), data["training"], iters, args.seed + k, models))
    torch.manual_seed(args.seed + 100)
    nets = {"deep": train(task, f"deep_{deep}", make(deep), data["training"], iters, args.seed + 100, models)}
    torch.manual_seed(args.seed + 200)
    nets["hetero"] = train(task, "hetero", make(heteroscedastic=True), data["training"], iters, args.seed + 200, models)
    runs = method_runs(task, nets, members, args.eval_members, args.mc_samples)
    x = torch.as_tensor(data["validation"][0]["image"])[None] if task == "seg" else \
        torch.stack([c["image"] for c in data["validation"][:64]])
    cost = time_methods(runs, x)
    print("  cost x one pass: " + ", ".join(f"{m} {c:.2f}" for m, c in cost.items()), flush=True)
    recs: dict = {"validation": {}, "test": {}}
    (out / "records").mkdir(exist_ok=True)
    for split in recs:
        cases = data[split] + data[split + "_shifted"]
        for (method, k), run in runs.items():
            cache = out / "records" / f"{task}_{split}_{method}_{k}.pt"
            if not cache.is_file():  # the same models and options give the same records
                t0 = time.perf_counter()
                torch.save(run_method(task, run, cases, args.min_dice, args.seed), cache.with_suffix(".tmp"))
                os.replace(cache.with_suffix(".tmp"), cache)
                print(f"  {split}: {method} run {k} on {len(cases)} cases ({time.perf_counter() - t0:.0f} s)",
                      flush=True)
            recs[split][(method, k)] = torch.load(cache, weights_only=False)
    activation = "sigmoid" if task == "seg" else "softmax"
    results = {key: evaluate(recs["validation"][key], recs["test"][key], activation) for key in runs}
    table = summarise(results, cost)
    default = choose_default(table, args.max_cost)
    print_table(task, table, default)
    save_figures(task, results, default, out)
    return {"table": table, "default": default, "cost": cost,
            "dice_test": {m: float(np.mean([r["dice"] for r in recs["test"][(m, 0)]])) for m in METHODS}
            if task == "seg" else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="work folder: data, cached models, figures, JSON")
    parser.add_argument("--tasks", nargs="+", default=["seg", "cls"], choices=["seg", "cls"])
    parser.add_argument("--seg-cases", type=int, default=24, help="BraTS cases (1/2 train, 1/4 val, 1/4 test)")
    parser.add_argument("--cls-cases", type=int, default=600, help="2D cases (60 %% train, 20 %% val, 20 %% test)")
    parser.add_argument("--seg-iters", type=int, default=100, help="training iterations (batch 1) per seg model")
    parser.add_argument("--cls-iters", type=int, default=200, help="training iterations (batch 16) per cls model")
    parser.add_argument("--members", type=int, default=5, help="ensemble members")
    parser.add_argument("--eval-members", type=int, default=3, help="members the single-model methods run on")
    parser.add_argument("--mc-samples", type=int, default=10, help="T of the MC-dropout methods")
    parser.add_argument("--min-dice", type=float, default=0.7, help="a seg case is wrong below this mean Dice")
    parser.add_argument("--max-cost", type=float, default=2.0, help="the default may cost at most this x one pass")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {task: run_task(task, args, args.out) for task in args.tasks}
    with open(args.out / "results.json", "w") as f:
        json.dump({t: {k: v for k, v in r.items()} for t, r in report.items()}, f, indent=1, default=str)
    for task, r in report.items():
        ens, dft = r["table"]["ensemble5"], r["table"][r["default"]]
        gap = ens["auroc"][0] - dft["auroc"][0]
        ratio = f"ratio {dft['error_accepted'][0] / dft['error_all'][0]:.2f}" if dft["error_all"][0] else "no errors"
        print(f"[{task}] default {r['default']}: cost {dft['cost'][0]:.2f}x, error-detection AUROC "
              f"{dft['auroc'][0]:.3f} vs ensemble {ens['auroc'][0]:.3f} (gap {gap:+.3f}); accepted error at 20 % "
              f"review {dft['error_accepted'][0]:.3f} vs {dft['error_all'][0]:.3f} without routing ({ratio}, "
              f"{dft['reviewed'][0]:.1%} of the test cases reviewed)")


if __name__ == "__main__":
    main()
