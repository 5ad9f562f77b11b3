# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoStrat treatment-policy workflow: cohort preparation and split, ATLP training with validation-patient
checkpoint selection, review-threshold fitting, and the files inference and evaluation read back."""

from __future__ import annotations

import functools
import json
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ...bundle import require_file
from ...data import EVALUATION_SPLITS, SPLITS, prepare_embedded_data, select_cases, split_datalist
from ...data.synthetic.tcga import generate_tcga
from ...rl.agents import ATLP, MultimodalStateEncoder
from ...rl.callbacks import ValidationCallback
from ...rl.envs import PatientProfile, TreatmentEnv, TreatmentReward, make_chemo_immunotherapy_env
from ...rl.evaluation import evaluate_cohort, run_episode, summarize_episodes
from ...rl.plots import plot_learning_curve
from ...rl.recommendation import fit_review_threshold, quantile_spread
from ...utils.errors import InputError, MissingInputError
from .cohort import FEATURE_NAMES, OncoStratCohort, load_oncostrat_cohort
from .protocols import standard_protocols

__all__ = [
    "DEFAULT_ENV_SETTINGS",
    "EVALUATION_SPLITS",
    "INFERENCE_SPLITS",
    "TRAIN_COMMAND",
    "seen_patients",
    "prepare_cohort_root",
    "split_cohort",
    "cohort_environment",
    "train_treatment_policy",
    "load_policy_config",
    "network_arguments",
    "patient_items",
    "split_environment",
    "SPLITS",
]

logger = logging.getLogger(__name__)

DEFAULT_ENV_SETTINGS: dict[str, Any] = {
    "regimens": None,
    "dose_levels": [0.5, 1.0],
    "cycle_days": 7.0,
    "num_cycles": 12,
    "observation_noise": 0.1,
    "missing_probability": 0.0,
    "reward": {},
}
"""Environment settings of the bundle (``monai_dianet/ChemoImmuno-v0`` defaults with 10 % measurement noise)."""

POLICY_CONFIG = "policy_config.json"

TRAIN_COMMAND = "python -m monai.bundle run --config_file configs/train.json"
"""The command that trains the policy and saves its split (from the bundle folder)."""

INFERENCE_SPLITS: tuple[str, ...] = (*SPLITS, "cohort", "all")
"""The patients ``inference.json`` may run on (see :func:`split_environment`)."""


def prepare_cohort_root(dataset_dir: str | None, bundle_root: str | Path, num_cases: int = 240, seed: int = 0) -> Path:
    """The cohort folder: ``dataset_dir`` when given, else the embedded synthetic GDC-format cohort
    ``<bundle_root>/data/tcga_oncostrat`` written by :func:`monai_dianet.data.synthetic.generate_tcga` through
    :func:`monai_dianet.data.prepare_embedded_data` (once per setting, atomic, safe under ``torchrun``).

    Raises:
        MissingInputError: when ``dataset_dir`` is given but is not a folder.
    """
    if dataset_dir and not Path(dataset_dir).is_dir():
        raise MissingInputError(f"--dataset_dir {dataset_dir} is not a folder; give a GDC cohort folder (clinical.tsv, "
                                f"optional gdc_sample_sheet.tsv + rna_seq/) or leave it empty for the embedded one.")
    return Path(prepare_embedded_data(
        dataset_dir, Path(bundle_root) / "data" / "tcga_oncostrat", functools.partial(generate_tcga, progress=False),
        num=int(num_cases), seed=int(seed), num_genes=96, patches_per_case=1, patch_size=16,
    ))


def split_cohort(cohort: OncoStratCohort, val_fraction: float = 0.2, test_fraction: float = 0.2,
                 seed: int = 0) -> dict[str, list[str]]:
    """Training / validation / test case ids of the cohort: :func:`monai_dianet.data.split_datalist`, stratified
    by stage.

    Raises:
        InputError: for fractions outside ``(0, 1)`` (or summing to 1 or more) and for a cohort too small to give
            every split a patient.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            raise InputError(f"{name} must be in (0, 1), got {value}.")
    if val_fraction + test_fraction >= 1.0:
        raise InputError(f"val_fraction + test_fraction must be < 1, got {val_fraction + test_fraction}.")
    if len(cohort.case_ids) < 3:
        raise InputError(f"a cohort of {len(cohort.case_ids)} patients leaves an empty split; training, validation "
                         f"and test need at least one patient each (use a larger cohort, e.g. --synthetic_cases).")
    datalist = [{"case_id": cid, "stage": int(round(stage))} for cid, stage in zip(cohort.case_ids,
                                                                                  cohort.table["stage"])]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="split_datalist")  # small cohorts: a seeded shuffle is fine
        parts = split_datalist(datalist, val_fraction, test_fraction, seed=seed, label_key="stage", id_key="case_id")
    split = {name: [e["case_id"] for e in parts[name]] for name in SPLITS}
    empty = [name for name in SPLITS if not split[name]]
    if empty:
        raise InputError(f"a cohort of {len(datalist)} patients leaves the {empty} split(s) empty; use a larger "
                         f"cohort (e.g. --synthetic_cases).")
    return split


def cohort_environment(profiles: Sequence, settings: Mapping[str, Any] | None = None,
                       daily_samples: bool = False) -> TreatmentEnv:
    """The chemo-immunotherapy environment over a cohort's profiles with bundle settings (see
    :data:`DEFAULT_ENV_SETTINGS`)."""
    s = {**DEFAULT_ENV_SETTINGS, **(settings or {})}
    return make_chemo_immunotherapy_env(
        regimens=s["regimens"], patients=list(profiles), dose_levels=s["dose_levels"], cycle_days=s["cycle_days"],
        num_cycles=s["num_cycles"], observation_noise=s["observation_noise"],
        missing_probability=s["missing_probability"], reward=TreatmentReward(**s["reward"]),
        daily_samples=daily_samples,
    )


def _network_kwargs(env: TreatmentEnv, n_quantiles: int, net_arch: Sequence[int], hidden_dim: int,
                    features_dim: int) -> dict[str, Any]:
    return {"obs_dim": int(env.observation_space.shape[0]), "num_actions": int(env.action_space.n),
            "num_quantiles": int(n_quantiles), "net_arch": [int(x) for x in net_arch],
            "dynamic_dim": int(env.observation_layout["dynamic"][1]), "hidden_dim": int(hidden_dim),
            "features_dim": int(features_dim)}


def _validation_spreads(agent, env: TreatmentEnv, indices: Sequence[int], levels: tuple[float, float]) -> list[float]:
    spreads = []

    def policy(obs, info):
        q = agent.return_quantiles(obs)
        action = int(agent.predict(obs, deterministic=True)[0])
        spreads.append(quantile_spread(q[:, action], levels))
        return action

    for i in indices:
        run_episode(env, policy, seed=0, options={"patient_index": int(i)})
    return spreads


def train_treatment_policy(
    data_root: str | Path,
    ckpt_dir: str | Path,
    output_dir: str | Path,
    total_timesteps: int = 6000,
    cvar_alpha: float = 1.0,
    entropy_weight: float = 0.0,
    entropy_temperature: float = 1.0,
    learning_rate: float = 1e-3,
    gamma: float = 0.99,
    n_quantiles: int = 25,
    net_arch: Sequence[int] = (64, 64),
    hidden_dim: int = 64,
    features_dim: int = 64,
    batch_size: int = 64,
    learning_starts: int = 500,
    target_update_interval: int = 500,
    exploration_fraction: float = 0.3,
    exploration_final_eps: float = 0.05,
    eval_freq: int = 1000,
    review_fraction: float = 0.1,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    seed: int = 0,
    env_settings: Mapping[str, Any] | None = None,
    resume: bool = True,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Train an ATLP treatment policy on the training patients of a GDC-format cohort.

    Validation patients choose the checkpoint (best mean return, evaluated every ``eval_freq`` steps), the
    review threshold (``review_fraction`` of the validation decisions flagged) and the best standard protocol
    (the reference of ratios). Test patients are never touched here.

    Writes to ``ckpt_dir``: ``policy_best.zip`` (the selected agent), ``policy_last.zip`` (+ replay buffer and
    history: training resumes from it when ``resume``), ``model.pt`` (the selected quantile network's state
    dict, for :class:`~monai_dianet.rl.agents.QuantileQNetwork`) and ``policy_config.json`` (environment
    settings, network arguments, CVaR alpha, review threshold, split, validation figures). Writes to
    ``output_dir``: ``learning_curve.png`` and ``training_history.json``.

    Returns:
        the content of ``policy_config.json``.

    Raises:
        InputError: for bad settings or an empty split.
    """
    if int(total_timesteps) < 1:
        raise InputError(f"total_timesteps must be a positive integer, got {total_timesteps}.")
    ckpt_dir, output_dir = Path(ckpt_dir), Path(output_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    settings = {**DEFAULT_ENV_SETTINGS, **(env_settings or {})}
    cohort = load_oncostrat_cohort(data_root, seed=split_seed)
    split = split_cohort(cohort, val_fraction, test_fraction, split_seed)
    index = {cid: k for k, cid in enumerate(cohort.case_ids)}
    by_id = dict(zip(cohort.case_ids, cohort.profiles))
    train_env = cohort_environment([by_id[c] for c in split["training"]], settings)
    val_env = cohort_environment(cohort.profiles, settings)
    val_idx = [index[c] for c in split["validation"]]

    last = ckpt_dir / "policy_last.zip"
    history_file = Path(str(last) + ".history.json")
    history = None
    if resume and last.is_file() and history_file.is_file():
        agent = ATLP.load(last, env=train_env, device=device)
        agent.load_replay_buffer(Path(str(last) + ".replay.pkl"))
        history = json.loads(history_file.read_text())
        logger.info(f"resuming from {last} at {agent.num_timesteps} steps")
    else:
        net = _network_kwargs(train_env, n_quantiles, net_arch, hidden_dim, features_dim)
        agent = ATLP(
            env=train_env, cvar_alpha=cvar_alpha, entropy_weight=entropy_weight,
            entropy_temperature=entropy_temperature, learning_rate=learning_rate, gamma=gamma,
            buffer_size=max(10_000, int(total_timesteps)), learning_starts=learning_starts, batch_size=batch_size,
            train_freq=1, gradient_steps=1, target_update_interval=target_update_interval,
            exploration_fraction=exploration_fraction, exploration_final_eps=exploration_final_eps, seed=seed,
            device=device,
            policy_kwargs={"n_quantiles": net["num_quantiles"], "net_arch": net["net_arch"],
                           "features_extractor_class": MultimodalStateEncoder,
                           "features_extractor_kwargs": {"dynamic_dim": net["dynamic_dim"], "hidden_dim": hidden_dim,
                                                         "features_dim": features_dim}},
        )

    def log(entry):
        logger.info(f"step {entry['timesteps']}: validation mean return {entry['mean_return']:.3f}, 10th percentile "
                    f"{entry['p10_return']:.3f}, survival {entry['survival_rate']:.2f}"
                    f"{' (best)' if entry['best'] else ''}")

    callback = ValidationCallback(val_env, val_idx, eval_freq=eval_freq, best_path=ckpt_dir / "policy_best.zip",
                                  last_path=last, history=history, on_evaluation=log)
    remaining = int(total_timesteps) - int(agent.num_timesteps)
    if remaining > 0:
        agent.learn(remaining, callback=callback, reset_num_timesteps=history is None)
    if agent.num_timesteps > (callback.history[-1]["timesteps"] if callback.history else 0):
        callback.evaluate()  # the final policy competes too

    best = ATLP.load(ckpt_dir / "policy_best.zip", device=device)
    net = _network_kwargs(val_env, best.policy.n_quantiles, best.policy.net_arch,
                          best.policy.features_extractor_kwargs.get("hidden_dim", 64),
                          best.policy.features_extractor_kwargs.get("features_dim", 64))
    tmp = ckpt_dir / ".model.pt.tmp"
    torch.save(best.policy.quantile_net.state_dict(), tmp)
    os.replace(tmp, ckpt_dir / "model.pt")

    levels = (0.1, 0.9)
    threshold = fit_review_threshold(_validation_spreads(best, val_env, val_idx, levels), review_fraction)
    protocols = {name: summarize_episodes(evaluate_cohort(val_env, p, val_idx))
                 for name, p in standard_protocols(val_env).items()}
    best_fixed = max(protocols, key=lambda n: protocols[n]["mean_return"])
    config = {
        "data_root": str(Path(data_root).resolve()),
        "env": settings,
        "action_labels": [a.label for a in val_env.actions],
        "feature_names": cohort.feature_names,
        "network": net,
        "cvar_alpha": best.cvar_alpha,
        "entropy_weight": best.entropy_weight,
        "review_threshold": threshold,
        "review_fraction": review_fraction,
        "spread_levels": list(levels),
        "split": split,
        "split_seed": split_seed,
        "timesteps": int(agent.num_timesteps),
        "selected_at": max(callback.history, key=lambda h: h["mean_return"])["timesteps"],
        "validation": {"policy": max(callback.history, key=lambda h: h["mean_return"]), "protocols": protocols,
                       "best_fixed_protocol": best_fixed},
    }
    tmp = ckpt_dir / f".{POLICY_CONFIG}.tmp"
    tmp.write_text(json.dumps(config, indent=1))
    os.replace(tmp, ckpt_dir / POLICY_CONFIG)
    (output_dir / "training_history.json").write_text(json.dumps(callback.state(), indent=1))
    plot_learning_curve(callback.history, callback.train_returns, output_dir / "learning_curve.png",
                        title=f"ATLP (CVaR alpha {best.cvar_alpha:g}) on {len(split['training'])} training patients",
                        reference={f"best standard protocol: {best_fixed}": protocols[best_fixed]["mean_return"]})
    return config


def load_policy_config(ckpt_dir: str | Path) -> dict[str, Any]:
    """Read ``policy_config.json`` written by :func:`train_treatment_policy`.

    Args:
        ckpt_dir: the folder of ``policy_config.json`` and ``model.pt``.

    Returns:
        the content of ``policy_config.json``.

    Raises:
        MissingInputError: when it (or ``model.pt``) is missing, naming the training command.
    """
    require_file(Path(ckpt_dir) / "model.pt", "checkpoint", TRAIN_COMMAND)
    return json.loads(Path(require_file(Path(ckpt_dir) / POLICY_CONFIG, "policy config", TRAIN_COMMAND)).read_text())


def network_arguments(ckpt_dir: str | Path, n_quantiles: int = 25, net_arch: Sequence[int] = (64, 64),
                      hidden_dim: int = 64, features_dim: int = 64) -> dict[str, Any]:
    """:class:`~monai_dianet.rl.agents.QuantileQNetwork` arguments: those of the trained policy in ``ckpt_dir``
    when it has a ``policy_config.json``; before training, those of the default bundle settings (default
    environment, the cohort features of :func:`load_oncostrat_cohort`), e.g. for ``verify_net_in_out``."""
    path = Path(ckpt_dir) / POLICY_CONFIG
    if path.is_file():
        return dict(json.loads(path.read_text())["network"])
    env = cohort_environment([PatientProfile("default", features=np.zeros(len(FEATURE_NAMES)))])
    return _network_kwargs(env, n_quantiles, net_arch, hidden_dim, features_dim)


def split_environment(
    config: Mapping[str, Any],
    dataset_dir: str | None,
    split: str,
    daily_samples: bool = True,
    allowed: Sequence[str] = INFERENCE_SPLITS,
    option: str = "--split",
) -> tuple[TreatmentEnv, list[int], list[str]]:
    """The environment and patient indices to run a trained policy on.

    The cohort is ``dataset_dir`` when given, else the training cohort (``config["data_root"]``). The patients are
    chosen by :func:`monai_dianet.data.select_cases` from the split saved in ``policy_config.json`` (the
    deterministic 3-way split of :func:`split_cohort`):

    - ``"training"``, ``"validation"``, ``"test"``: that split of the training run; the cohort must hold them;
    - ``"cohort"``: every patient of a new cohort, none of which may be a training or validation patient;
    - ``"all"``: every patient of the cohort, whichever split they were in (inference on given patients: a warning
      is logged when training or validation saw some of them; :func:`seen_patients` counts them for the output).

    Args:
        config: the output of :func:`load_policy_config`.
        dataset_dir: a GDC-format cohort folder, or ``""``/None for the training cohort.
        split: one of ``allowed``.
        daily_samples: passed to :func:`cohort_environment` (daily states for the trajectory figures).
        allowed: the splits this run may use (:data:`EVALUATION_SPLITS` for an evaluation).
        option: the option that set ``split``, for the messages.

    Returns:
        ``(environment over the cohort, patient indices in it, patient ids)``.

    Raises:
        InputError: a split not in ``allowed``, an empty split, split patients missing from the cohort, a
            ``"cohort"`` sharing patients with training or validation, or cohort features that differ from
            training's.
    """
    root = prepare_cohort_root(dataset_dir, ".") if dataset_dir else config["data_root"]
    cohort = load_oncostrat_cohort(root, seed=config["split_seed"])
    if cohort.feature_names != config["feature_names"]:
        raise InputError(f"cohort {root}: features {cohort.feature_names} differ from training's "
                         f"{config['feature_names']}")
    ids = select_cases(config["split"], cohort.case_ids, split, allowed, option, "patients", TRAIN_COMMAND, str(root))
    shared = seen_patients(config, ids)
    if shared and split not in SPLITS:
        logger.warning(f"{len(shared)} of the {len(ids)} patients of {root} were training or validation patients: "
                       f"figures over them are not held-out figures (the test patients: {option} test)")
    index = {cid: k for k, cid in enumerate(cohort.case_ids)}
    env = cohort_environment(cohort.profiles, config["env"], daily_samples=daily_samples)
    return env, [index[c] for c in ids], ids


def seen_patients(config: Mapping[str, Any], ids: Sequence[str]) -> list[str]:
    """The patients of ``ids`` that the training run used for training or validation (figures on them are not
    held-out figures).

    Args:
        config: the output of :func:`load_policy_config`.
        ids: patient ids.

    Returns:
        those ids, in the order of ``ids``.
    """
    seen = set(config["split"]["training"]) | set(config["split"]["validation"])
    return [c for c in ids if c in seen]


def patient_items(indices: Sequence[int], ids: Sequence[str]) -> list[dict[str, Any]]:
    """Dataset items of an evaluator over patients."""
    return [{"patient_index": int(i), "patient_id": str(c)} for i, c in zip(indices, ids)]


def summary_table(summaries: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Summaries by policy name as a table (one row per policy)."""
    return pd.DataFrame.from_dict(summaries, orient="index")
