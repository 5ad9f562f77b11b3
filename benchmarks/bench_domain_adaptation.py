# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Domain adaptation under a scanner-like intensity shift: source-only vs joint-BN vs MMD vs adversarial (eq 22-24).

The task is lesion presence classification on generated 2D slices (``monai_dianet.data.synthetic.domain_shift``);
the target domain is the same anatomy through ``RandDomainShift``. Every method trains the same DIANet-2D from the
same seed, with the same source data order, optimiser and number of iterations:

- ``source``: ``DIANetTrainer`` on labelled source batches only (the baseline; it never sees a target image);
- ``joint``: ``DomainAdaptiveTrainer`` without a domain loss (target batches only share the batch-norm
  statistics: separates that effect from the domain loss);
- ``mmd``: ``DomainAdaptiveTrainer`` + ``MMDLoss`` on the pooled latent (eq 22-23);
- ``adv``: ``DomainAdaptiveTrainer`` + ``DomainAdversarialLoss`` (discriminator + gradient reversal with the
  DANN schedule, eq 24);
- ``im`` / ``mmd_im``: the target information-maximisation term alone / added to ``mmd``
  (``target_entropy_weight=--im-weight``).

One command runs both stages, and the test cases are used by the second stage only:

1. **The target shift is chosen on validation cases** (``--shift select``, the default). The source-only model of
   each seed (trained on source cases only, so it does not depend on the shift) is evaluated on labelled
   *validation* cases (``num_val``, drawn apart from the test cases) of each scanner in :data:`CANDIDATE_SHIFTS`.
   A candidate is eligible when, on every seed, the source-only model still predicts each class for at least
   ``--min-class-fraction`` of the target-validation cases (once its target predictions collapse onto one class,
   alignment without labels cannot tell which target cluster is which, see benchmarks/RESULTS.md); among the
   eligible candidates the one with the lowest mean target-validation accuracy (the largest shift problem) is
   chosen. ``--shift default`` skips the stage and uses ``DEFAULT_TARGET_SHIFT``, the shift this stage chose.
2. **Every method is trained at that shift and measured on the test cases**: source and target accuracy; how well
   the domains can be told apart from the pooled latents (the classifier input) by a metric that no method
   optimises, a linear probe (logistic regression on standardised features, 5-fold stratified cross-validated
   accuracy on source-test vs target-test latents; 0.5 = indistinguishable); and, beside it, the multi-kernel
   MMD that ``mmd`` minimises. Mean +- sd over seeds, per-seed target accuracy, ratios to ``source``.

The domain weight lambda3 is constant (``--ramp``: DANN ramp-up); the adversarial loss's reversal weight always
follows the DANN schedule.

Example (the command of benchmarks/RESULTS.md)::

    python benchmarks/bench_domain_adaptation.py --iters 128 --seeds 0 1 2 3 4 --methods source joint mmd adv \\
        --ramp --threads 1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from monai.utils import set_determinism
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader
from tqdm import tqdm

from monai_dianet.data.synthetic.domain_shift import DEFAULT_TARGET_SHIFT, make_domain_shift_task
from monai_dianet.engines import DIANetTrainer, DomainAdaptiveTrainer
from monai_dianet.losses import DIANetLoss, DomainAdversarialLoss, MMDLoss
from monai_dianet.networks.blocks.gradient_reversal import DANNSchedule
from monai_dianet.networks.nets import DIANet

METHODS = ("source", "joint", "mmd", "adv", "im", "mmd_im")

#: the target scanners compared in stage 1: a darker or brighter fixed intensity response, with the source's
#: noise (std 0.03 already in the image) or more
CANDIDATE_SHIFTS: dict[str, dict[str, float]] = {
    f"x{scale:g} noise {noise:g}": {"scale": scale, "noise_std": noise}
    for scale in (0.5, 0.6, 0.65, 0.7, 0.8, 1.3)
    for noise in (0.03, 0.06)
}


def build_net(latent_channels: int) -> DIANet:
    return DIANet(
        2, 1, 2, tasks=("classification",), codebook_size=0, diffuser=False, fusion_channels=32,
        latent_channels=latent_channels,
    )


@torch.no_grad()
def predict(net: DIANet, cases: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(predicted class, label, pooled latent) of ``cases`` in eval mode."""
    net.eval()
    out = net(torch.stack([d["image"] for d in cases]), return_all=True)
    return out.classification.argmax(1), torch.stack([d["label"] for d in cases]), out.pooled_latent


def probe_accuracy(source: torch.Tensor, target: torch.Tensor, seed: int = 0) -> float:
    """Cross-validated accuracy of a linear domain classifier on the two feature sets (0.5: aligned)."""
    x = torch.cat([source, target]).double().numpy()
    y = np.r_[np.zeros(len(source)), np.ones(len(target))]
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(cross_val_score(probe, x, y, cv=folds, scoring="accuracy").mean())


def evaluate(net: DIANet, task: dict) -> dict[str, float]:
    result, feats = {}, {}
    for split in ("source_test", "target_test"):
        pred, label, feats[split] = predict(net, task[split])
        result[f"{split}_acc"] = float((pred == label).float().mean())
    result["probe_acc"] = probe_accuracy(feats["source_test"], feats["target_test"])
    result["mmd"] = float(MMDLoss()(feats["source_test"], feats["target_test"]))
    return result


def train(method: str, task: dict, args: argparse.Namespace, seed: int) -> tuple[DIANet, float, int]:
    """Train ``method`` on ``task``; returns the network, the training seconds and the iterations."""
    set_determinism(seed)
    net = build_net(args.latent_channels)
    source = DataLoader(task["source_train"], batch_size=args.batch, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    target = DataLoader(task["target_train"], batch_size=args.batch, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed + 1))
    epochs = max(1, args.iters // len(source))
    params = list(net.parameters())
    domain_loss = None
    if method in ("mmd", "mmd_im"):
        domain_loss = MMDLoss()
    elif method == "adv":
        domain_loss = DomainAdversarialLoss(in_channels=args.latent_channels)
        params += list(domain_loss.parameters())
    optimizer = torch.optim.Adam(params, args.lr)
    start = time.perf_counter()
    if method == "source":
        trainer = DIANetTrainer("cpu", epochs, source, net, optimizer, DIANetLoss())
    else:
        trainer = DomainAdaptiveTrainer(
            "cpu", epochs, source, target, net, optimizer, DIANetLoss(), domain_loss=domain_loss,
            domain_weight=args.domain_weight,
            domain_weight_schedule=DANNSchedule() if (domain_loss is not None and args.ramp) else None,
            domain_feature="pooled_latent",
            target_entropy_weight=args.im_weight if method in ("im", "mmd_im") else 0.0,
        )
    trainer.run()
    seconds = time.perf_counter() - start
    set_determinism(None)
    return net, seconds, trainer.state.iteration


def make_task(args: argparse.Namespace, seed: int, shift: dict | None) -> dict:
    return make_domain_shift_task(args.num_source, args.num_target, args.num_test, size=args.size, seed=seed,
                                  task="classification", target_shift=shift, num_val=args.num_val)


def select_shift(source_nets: dict[int, DIANet], args: argparse.Namespace) -> tuple[str, list[dict]]:
    """Stage 1: evaluate each seed's source-only model on the validation cases of every candidate shift."""
    rows = []
    for name, shift in CANDIDATE_SHIFTS.items():
        row: dict = {"shift": name, "params": shift, "source_val_acc": [], "target_val_acc": [], "min_class": []}
        for seed, net in source_nets.items():
            task = make_task(args, seed, shift)
            pred, label, _ = predict(net, task["source_val"])
            row["source_val_acc"].append(float((pred == label).float().mean()))
            pred, label, _ = predict(net, task["target_val"])
            row["target_val_acc"].append(float((pred == label).float().mean()))
            row["min_class"].append(float(min((pred == 0).float().mean(), (pred == 1).float().mean())))
        row["eligible"] = min(row["min_class"]) >= args.min_class_fraction
        rows.append(row)
    eligible = [r for r in rows if r["eligible"]]
    if not eligible:
        raise SystemExit("no candidate shift keeps the source-only target predictions uncollapsed")
    chosen = min(eligible, key=lambda r: float(np.mean(r["target_val_acc"])))
    return chosen["shift"], rows


def mean_sd(values: list[float]) -> str:
    return f"{np.mean(values):.3f} +- {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--num-source", type=int, default=128)
    parser.add_argument("--num-target", type=int, default=128)
    parser.add_argument("--num-test", type=int, default=128)
    parser.add_argument("--num-val", type=int, default=128, help="labelled validation cases per domain (stage 1)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--domain-weight", type=float, default=1.0)
    parser.add_argument("--im-weight", type=float, default=1.0, help="weight of the target information loss")
    parser.add_argument("--ramp", action="store_true", help="ramp lambda3 up with the DANN schedule")
    parser.add_argument("--latent-channels", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", default=["source", "joint", "mmd", "adv"], choices=METHODS)
    parser.add_argument("--shift", choices=("select", "default"), default="select",
                        help="select: choose the target shift on validation cases (stage 1); default: "
                        "DEFAULT_TARGET_SHIFT")
    parser.add_argument("--min-class-fraction", type=float, default=0.2,
                        help="stage 1: least fraction of target-validation cases predicted as each class")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the raw results to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    methods = ["source"] + [m for m in args.methods if m != "source"]

    # the source-only model does not depend on the target shift: train it once per seed
    source_runs = {}
    for seed in tqdm(args.seeds, desc="source-only"):
        source_runs[seed] = train("source", make_task(args, seed, None), args, seed)
    report: dict = {"config": vars(args)}
    if args.shift == "select":
        chosen, rows = select_shift({s: r[0] for s, r in source_runs.items()}, args)
        shift = CANDIDATE_SHIFTS[chosen]
        report["selection"] = rows
        print("\nStage 1, validation cases only: source-only model per candidate target scanner")
        print("| target shift | source-only source-val acc | source-only target-val acc (per seed) "
              "| least class fraction | eligible |")
        print("|---|---|---|---|---|")
        for r in rows:
            per_seed = ", ".join(f"{a:.2f}" for a in r["target_val_acc"])
            mark = " **chosen**" if r["shift"] == chosen else ""
            print(f"| {r['shift']}{mark} | {np.mean(r['source_val_acc']):.3f} | {np.mean(r['target_val_acc']):.3f} "
                  f"({per_seed}) | {min(r['min_class']):.2f} | {'yes' if r['eligible'] else 'no'} |")
    else:
        chosen, shift = "DEFAULT_TARGET_SHIFT", dict(DEFAULT_TARGET_SHIFT)
    report["shift"] = {"name": chosen, "params": shift}
    print(f"\ntarget shift: {chosen} {shift}")

    raw: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    jobs = [(seed, m) for seed in args.seeds for m in methods]
    task: dict = {}
    for seed, method in tqdm(jobs, desc="runs"):
        if task.get("seed") != seed:
            task = {"seed": seed, "task": make_task(args, seed, shift)}
        if method == "source":
            net, seconds, iterations = source_runs[seed]
        else:
            net, seconds, iterations = train(method, task["task"], args, seed)
        res = {"seed": seed, **evaluate(net, task["task"]), "train_s": seconds, "iterations": iterations}
        raw[method].append(res)
        tqdm.write(f"seed {seed} {method:7s} " + " ".join(f"{k}={v:.3f}" for k, v in res.items() if k != "seed"))
    report["runs"] = raw

    print(f"\nStage 2, test cases: config {vars(args)}")
    print("| method | source acc | target acc, mean +- sd (per seed) | target acc / source-only | seeds better than "
          "source-only | domain probe acc (not optimised) | MMD (optimised by mmd) | MMD / source-only | train s |")
    print("|" + "---|" * 9)
    base = raw["source"]
    for method, runs in raw.items():
        target = [r["target_test_acc"] for r in runs]
        better = sum(r["target_test_acc"] > b["target_test_acc"] for r, b in zip(runs, base))
        ratio_acc = np.mean(target) / np.mean([b["target_test_acc"] for b in base])
        ratio_mmd = np.mean([r["mmd"] for r in runs]) / np.mean([b["mmd"] for b in base])
        print(f"| {method} | {mean_sd([r['source_test_acc'] for r in runs])} | {mean_sd(target)} "
              f"({', '.join(f'{t:.2f}' for t in target)}) | {ratio_acc:.2f}x | "
              f"{'-' if method == 'source' else f'{better} of {len(runs)}'} | "
              f"{mean_sd([r['probe_acc'] for r in runs])} | {mean_sd([r['mmd'] for r in runs])} | {ratio_mmd:.2f}x | "
              f"{np.mean([r['train_s'] for r in runs]):.0f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
