# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoNet benchmark: fusion vs. single modalities vs. scikit-learn baselines, clinical-only OncoNet vs. logistic
regression on real tabular data, and the gene-graph encoder's forward time per patient.

1. Generated TCGA cohort (``generate_tcga``, GDC formats, read by ``build_tcga_data``): OncoNet with all three
   modalities vs. OncoNet with one modality at a time vs. scikit-learn logistic regression and gradient boosting
   on the concatenated tabular features (selected genes + encoded clinical columns), same split, accuracy / AUC
   on the held-out validation cases, averaged over ``--seeds`` cohorts.
2. Wisconsin breast cancer (``sklearn.datasets.load_breast_cancer``, real data, offline): OncoNet with only the
   clinical encoder vs. logistic regression, stratified 5-fold cross-validation, AUC.
3. ``GeneGraphEncoder`` (GATv2, PyG) forward time per patient vs. ``GeneTransformerEncoder`` on the same genes.

Run (CPU, about 10-20 minutes on 2 idle cores with the defaults)::

    python benchmarks/bench_onconet.py
    python benchmarks/bench_onconet.py --cases 200 --epochs 40 --seeds 0 1 2 --image-encoder dianet
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from monai_dianet.data.synthetic.tcga import generate_tcga
from monai_dianet.apps.tcga.data import build_tcga_data
from monai_dianet.losses import OncoNetLoss
from monai_dianet.networks.blocks import GeneGraphEncoder, GeneTransformerEncoder
from monai_dianet.networks.nets import OncoNet


def stack_dataset(dataset) -> dict[str, torch.Tensor]:
    """All items of a TCGAMultimodalDataset as stacked tensors (loaded once)."""
    items = [dataset[i] for i in range(len(dataset))]
    keys = ("image", "genes", "clinical", "modality_mask", "label")
    return {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in keys}


def select(data: dict[str, torch.Tensor], modalities: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Keep only ``modalities`` (the others are removed from the input and the mask)."""
    out = {k: v for k, v in data.items() if k in modalities or k in ("label",)}
    keep = torch.tensor([m in modalities for m in ("image", "genes", "clinical")])
    out["modality_mask"] = data["modality_mask"] & keep
    return out


def inner_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified split of the training indices into (fit, early-stopping validation); the test cases play no part."""
    g = torch.Generator().manual_seed(seed)
    fit, stop = [], []
    for c in labels.unique():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = int(round(fraction * len(idx)))
        stop.append(idx[:k])
        fit.append(idx[k:])
    return torch.cat(fit).sort().values, torch.cat(stop).sort().values


def train_onconet(
    net: OncoNet, train: dict[str, torch.Tensor], epochs: int, batch_size: int = 16, lr: float = 1e-3, seed: int = 0,
    contrastive_weight: float = 0.1, weight_decay: float = 1e-4, stop_data: dict[str, torch.Tensor] | None = None,
) -> OncoNet:
    """Plain mini-batch training of OncoNet with its objective (CE + eq 10 L2 + eq 15 contrastive).

    With ``stop_data`` (cases taken out of the training split), the weights of the epoch with the best AUC on
    those cases are kept (early stopping by model selection); without it, the last epoch's.
    """
    torch.manual_seed(seed)
    loss_fn = OncoNetLoss(net, contrastive_weight=contrastive_weight)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    n = len(train["label"])
    usable = train["modality_mask"].any(1)
    best, best_state = -1.0, None
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(n)
        perm = perm[usable[perm]]
        for start in range(0, len(perm), batch_size):
            idx = perm[start : start + batch_size]
            if len(idx) < 2:
                continue
            batch = {k: v[idx] for k, v in train.items() if k != "label"}
            loss = loss_fn(net(batch, return_all=True), train["label"][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if stop_data is not None:
            _, auc = scores(stop_data["label"].numpy(), predict(net, stop_data))
            if auc > best:
                best, best_state = auc, {k: v.detach().clone() for k, v in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    return net.eval()


@torch.no_grad()
def predict(net: OncoNet, data: dict[str, torch.Tensor], batch_size: int = 64) -> np.ndarray:
    """Class probabilities (N, K)."""
    net.eval()
    out = []
    for start in range(0, len(data["label"]), batch_size):
        batch = {k: v[start : start + batch_size] for k, v in data.items() if k != "label"}
        out.append(torch.softmax(net(batch), dim=1))
    return torch.cat(out).numpy()


def scores(labels: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    acc = accuracy_score(labels, probs.argmax(1))
    auc = roc_auc_score(labels, probs[:, 1]) if probs.shape[1] == 2 else roc_auc_score(labels, probs, multi_class="ovr")
    return float(acc), float(auc)


def cohort_benchmark(args) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            generate_tcga(tmp, num=args.cases, seed=seed, num_genes=256, patch_size=args.patch_size,
                          missing_rate=0.0, progress=False)
            data = build_tcga_data(tmp, num_genes=args.genes, val_fraction=0.4, seed=seed,
                                   spatial_size=(args.patch_size, args.patch_size), random_patch_train=False)
            train, val = stack_dataset(data.datasets["train"]), stack_dataset(data.datasets["val"])
        stop = None
        if args.early_stopping > 0:  # model selection on cases of the training split, never on the test cases
            fit_idx, stop_idx = inner_split(train["label"], args.early_stopping, seed)
            train_all, train = train, {k: v[fit_idx] for k, v in train.items()}
            stop = {k: v[stop_idx] for k, v in train_all.items()}
        common = dict(in_channels=3, num_classes=max(data.num_classes, 2), num_genes=data.num_genes,
                      num_clinical=data.num_clinical, embed_dim=32, dropout=0.2, edge_index=data.edge_index,
                      img_size=args.patch_size)
        configs = {
            f"OncoNet full ({args.image_encoder} + graph + clinical)": (
                dict(image_encoder=args.image_encoder, genomic_encoder="graph", clinical=True,
                     modality_dropout=args.modality_dropout), ("image", "genes", "clinical")),
            f"OncoNet image only ({args.image_encoder})": (
                dict(image_encoder=args.image_encoder, genomic_encoder=None, clinical=False), ("image",)),
            "OncoNet genes only (graph)": (dict(image_encoder=None, genomic_encoder="graph", clinical=False), ("genes",)),
            "OncoNet clinical only (MLP)": (dict(image_encoder=None, genomic_encoder=None, clinical=True), ("clinical",)),
        }
        for name, (kwargs, modalities) in configs.items():
            torch.manual_seed(seed)
            net = OncoNet(**common, **kwargs)
            t0 = time.perf_counter()
            train_onconet(net, select(train, modalities), args.epochs, lr=args.lr, seed=seed,
                          contrastive_weight=0.1 if len(modalities) > 1 else 0.0, weight_decay=args.weight_decay,
                          stop_data=None if stop is None else select(stop, modalities))
            probs = predict(net, select(val, modalities))
            results.setdefault(name, []).append(scores(val["label"].numpy(), probs))
            print(f"  seed {seed} {name}: acc/auc {results[name][-1]} ({time.perf_counter() - t0:.0f} s)", flush=True)
        tab = train if stop is None else train_all  # no early stopping: the baselines fit on every training case
        x_train = torch.cat([tab["genes"], tab["clinical"]], 1).numpy()
        x_val = torch.cat([val["genes"], val["clinical"]], 1).numpy()
        for name, model in {
            "sklearn LogisticRegression (genes + clinical)": LogisticRegression(max_iter=5000),
            "sklearn GradientBoosting (genes + clinical)": GradientBoostingClassifier(random_state=seed),
        }.items():
            model.fit(x_train, tab["label"].numpy())
            results.setdefault(name, []).append(scores(val["label"].numpy(), model.predict_proba(x_val)))
            print(f"  seed {seed} {name}: acc/auc {results[name][-1]}", flush=True)
    return results


def breast_cancer_benchmark(args) -> dict[str, list[float]]:
    x, y = load_breast_cancer(return_X_y=True)
    aucs: dict[str, list[float]] = {"OncoNet clinical-only": [], "LogisticRegression": []}
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    for fold, (tr, te) in enumerate(folds.split(x, y)):
        scaler = StandardScaler().fit(x[tr])
        xtr, xte = scaler.transform(x[tr]), scaler.transform(x[te])
        lr = LogisticRegression(max_iter=5000).fit(xtr, y[tr])
        aucs["LogisticRegression"].append(roc_auc_score(y[te], lr.predict_proba(xte)[:, 1]))
        torch.manual_seed(fold)
        net = OncoNet(num_classes=2, num_clinical=x.shape[1], embed_dim=32, image_encoder=None, genomic_encoder=None,
                      clinical=True, dropout=0.2, clinical_kwargs={"hidden_dims": (64, 64), "missing_indicator": False})
        train = {"clinical": torch.tensor(xtr, dtype=torch.float32), "label": torch.tensor(y[tr]),
                 "modality_mask": torch.tensor([[False, False, True]]).repeat(len(tr), 1)}
        test = {"clinical": torch.tensor(xte, dtype=torch.float32), "label": torch.tensor(y[te]),
                "modality_mask": torch.tensor([[False, False, True]]).repeat(len(te), 1)}
        train_onconet(net, train, args.tabular_epochs, batch_size=32, seed=fold, contrastive_weight=0.0)
        aucs["OncoNet clinical-only"].append(roc_auc_score(y[te], predict(net, test)[:, 1]))
        print(f"  fold {fold}: OncoNet {aucs['OncoNet clinical-only'][-1]:.4f}  LR {aucs['LogisticRegression'][-1]:.4f}",
              flush=True)
    return aucs


@torch.no_grad()
def graph_timing(num_genes: int, batch: int = 32, degree: int = 20, repeats: int = 3) -> tuple[float, float]:
    """ms per patient of the graph encoder and of the transformer encoder (NaN above 1,000 genes: its
    O(G^2) attention maps would need several GB)."""
    g = torch.Generator().manual_seed(0)
    edges = torch.randint(0, num_genes, (2, num_genes * degree // 2), generator=g)
    genes = torch.randn(batch, num_genes, generator=g)
    graph = GeneGraphEncoder(num_genes, 64, edge_index=edges).eval()
    transformer = GeneTransformerEncoder(num_genes, 64).eval()
    out = []
    for enc, call in ((graph, lambda: graph(genes)), (transformer, lambda: transformer(genes))):
        if enc is transformer and num_genes > 1000:
            out.append(float("nan"))
            continue
        call()
        t0 = time.perf_counter()
        for _ in range(repeats):
            call()
        out.append((time.perf_counter() - t0) / repeats / batch * 1000)
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=160)
    parser.add_argument("--genes", type=int, default=64)
    parser.add_argument("--patch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--tabular-epochs", type=int, default=60)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--early-stopping", type=float, default=0.0,
                        help="fraction of the training cases held out to pick each network's best epoch (AUC)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--modality-dropout", type=float, default=0.2, help="of the full model, in training")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--image-encoder", default="cnn", choices=["cnn", "dianet", "vit"])
    parser.add_argument("--skip", nargs="*", default=[], choices=["cohort", "tabular", "timing"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if "cohort" not in args.skip:
        print(f"== generated TCGA cohort: {args.cases} cases, 40 % held out, {args.epochs} epochs, seeds {args.seeds}")
        results = cohort_benchmark(args)
        base = max(np.mean([r[1] for r in v]) for k, v in results.items() if "only" in k)
        print(f"{'model':58s} {'accuracy (mean +- sd)':>22s} {'AUC (mean +- sd)':>18s} {'AUC / best single':>18s}")
        for name, values in results.items():
            acc, auc = np.array([v[0] for v in values]), np.array([v[1] for v in values])
            print(f"{name:58s} {acc.mean():13.3f} +- {acc.std():.3f} {auc.mean():9.3f} +- {auc.std():.3f} "
                  f"{auc.mean() / base:18.3f}")
    if "tabular" not in args.skip:
        print("== Wisconsin breast cancer (569 patients, 30 features), stratified 5-fold CV")
        aucs = breast_cancer_benchmark(args)
        lr = np.mean(aucs["LogisticRegression"])
        for name, values in aucs.items():
            print(f"{name:28s} AUC {np.mean(values):.4f} +- {np.std(values):.4f}  (ratio to LR {np.mean(values) / lr:.4f})")
    if "timing" not in args.skip:
        print("== gene encoders, forward time per patient (batch 32, ~20 edges per gene), ms")
        print(f"{'genes':>6s} {'GATv2 graph':>12s} {'transformer':>12s} {'graph / transformer':>20s}")
        for n in (256, 1000, 2000):
            t_graph, t_trans = graph_timing(n)
            print(f"{n:6d} {t_graph:12.2f} {t_trans:12.2f} {t_graph / t_trans:20.3f}")


if __name__ == "__main__":
    main()
