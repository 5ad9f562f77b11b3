# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Treatment-policy benchmark: ATLP vs plain sb3-contrib QR-DQN vs fixed protocols on held-out patients.

One run, on a generated TCGA-format cohort (``generate_tcga``, GDC formats) turned into chemo-immunotherapy
patients (:func:`monai_dianet.apps.oncostrat.load_oncostrat_cohort`, de Pillis, Gu & Radunskaya 2006 dynamics)
and split into training / validation / test patients (:func:`monai_dianet.apps.oncostrat.split_cohort`):

1. Fixed policies: random, no treatment, maximum dose every cycle and the standard protocols (every 2nd cycle,
   2/4/6 induction cycles then observation). The best of the fixed protocols on the *validation* patients is the
   reference of every ratio.
2. Hyperparameter selection on validation patients only (seed 0): the entropy weight lambda of ATLP (alpha = 1)
   by validation mean return, then the risk level alpha < 1 by validation 10th-percentile return.
3. For each seed, at an equal number of environment steps: plain ``sb3_contrib.QRDQN`` (``MlpPolicy``), ATLP with
   alpha = 1 and ATLP with the selected alpha < 1, all with the same hyperparameters, the same checkpoint
   selection on validation patients (best validation mean return, evaluated every ``--eval-freq`` steps) and
   evaluated once on the test patients.

Reported per method on the test patients (learners: mean +- sd over seeds): mean return, 10th-percentile return,
survival rate, final / initial tumour burden, cumulative toxicity (lymphocyte depletion summed over visits),
each also as a ratio to the reference protocol. Results are cached in ``--out`` (JSON) after every run, so an
interrupted benchmark resumes.

Run (CPU; about an hour on 2 idle cores with the defaults)::

    python benchmarks/bench_treatment_policy.py
    python benchmarks/bench_treatment_policy.py --cases 240 --seeds 0 1 2 --timesteps 6000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sb3_contrib import QRDQN

from monai_dianet.apps.oncostrat import cohort_environment, load_oncostrat_cohort, split_cohort, standard_protocols
from monai_dianet.data.synthetic.tcga import generate_tcga
from monai_dianet.rl import (
    ATLP,
    AgentPolicy,
    MultimodalStateEncoder,
    RandomPolicy,
    ValidationCallback,
    evaluate_cohort,
    summarize_episodes,
)
from monai_dianet.rl.evaluation import ratios_to_reference

METRICS = ("mean_return", "p10_return", "survival_rate", "final_tumour_ratio", "cumulative_toxicity")


def make_learner(kind: str, env, seed: int, args, cvar_alpha: float = 1.0, entropy_weight: float = 0.0):
    """The same QR-DQN hyperparameters for every learner; ATLP adds its risk level, lambda and state encoder."""
    common = dict(learning_rate=args.learning_rate, buffer_size=max(10_000, args.timesteps), learning_starts=500,
                  batch_size=64, train_freq=1, gradient_steps=1, target_update_interval=500, gamma=0.99,
                  exploration_fraction=0.3, exploration_final_eps=0.05, seed=seed, device="cpu")
    net = {"n_quantiles": 25, "net_arch": [64, 64]}
    if kind == "qrdqn":
        return QRDQN("MlpPolicy", env, policy_kwargs=net, **common)
    encoder = {"features_extractor_class": MultimodalStateEncoder,
               "features_extractor_kwargs": {"dynamic_dim": env.observation_layout["dynamic"][1]}}
    return ATLP(env=env, cvar_alpha=cvar_alpha, entropy_weight=entropy_weight, policy_kwargs={**net, **encoder},
                **common)


def train_and_select(kind, seed, args, envs, split_idx, workdir, **kwargs) -> tuple[object, dict]:
    """Train for ``args.timesteps`` steps; keep the checkpoint with the best validation mean return."""
    agent = make_learner(kind, envs["train"], seed, args, **kwargs)
    best = Path(workdir) / f"{kind}_{seed}_{kwargs.get('cvar_alpha', 1)}_{kwargs.get('entropy_weight', 0)}.zip"
    callback = ValidationCallback(envs["cohort"], split_idx["validation"], eval_freq=args.eval_freq,
                                  best_path=best)
    start = time.time()
    agent.learn(args.timesteps, callback=callback)
    selected = (QRDQN if kind == "qrdqn" else ATLP).load(best, device="cpu")
    entry = max(callback.history, key=lambda h: h["mean_return"])
    return selected, {"validation": entry, "train_seconds": time.time() - start}


def test_summary(agent, envs, split_idx, args) -> dict:
    return summarize_episodes(evaluate_cohort(envs["cohort"], AgentPolicy(agent), split_idx["test"], args.test_seeds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=240, help="patients in the generated cohort")
    parser.add_argument("--cohort-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds of the learners")
    parser.add_argument("--timesteps", type=int, default=6000, help="environment steps per learner")
    parser.add_argument("--eval-freq", type=int, default=1500, help="steps between validation evaluations")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 0.01, 0.1], help="entropy weights tried")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.25, 0.5], help="risk levels alpha < 1 tried")
    parser.add_argument("--observation-noise", type=float, default=0.1)
    parser.add_argument("--missing-probability", type=float, default=0.0)
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[0, 1], help="measurement-noise seeds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/bench_treatment_policy.json", help="JSON cache of the results (resumes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: getattr(args, k) for k in ("cases", "cohort_seed", "timesteps", "eval_freq", "learning_rate",
                                              "observation_noise", "missing_probability", "test_seeds")}
    cache = json.loads(out.read_text()) if out.is_file() else {}
    if cache.get("settings") != settings:
        cache = {"settings": settings, "runs": {}}

    def save():
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(cache, indent=1))
        tmp.replace(out)

    with tempfile.TemporaryDirectory() as workdir:
        root = Path(workdir) / "cohort"
        generate_tcga(root, num=args.cases, seed=args.cohort_seed, num_genes=96, patches_per_case=1, patch_size=16,
                      progress=False)
        cohort = load_oncostrat_cohort(root, seed=args.cohort_seed)
        split = split_cohort(cohort, 0.2, 0.2, seed=args.cohort_seed)
        index = {c: k for k, c in enumerate(cohort.case_ids)}
        split_idx = {name: [index[c] for c in ids] for name, ids in split.items()}
        env_settings = {"observation_noise": args.observation_noise, "missing_probability": args.missing_probability}
        by_id = dict(zip(cohort.case_ids, cohort.profiles))
        envs = {"train": cohort_environment([by_id[c] for c in split["training"]], env_settings),
                "cohort": cohort_environment(cohort.profiles, env_settings)}
        print(f"patients: {', '.join(f'{k} {len(v)}' for k, v in split.items())}; {args.timesteps} steps per learner")

        # 1. fixed policies: reference chosen on validation, everything reported on test
        protocols = standard_protocols(envs["cohort"])
        validation = {n: summarize_episodes(evaluate_cohort(envs["cohort"], p, split_idx["validation"]))
                      for n, p in protocols.items()}
        reference = max(validation, key=lambda n: validation[n]["mean_return"])
        fixed = {n: summarize_episodes(evaluate_cohort(envs["cohort"], p, split_idx["test"], args.test_seeds))
                 for n, p in protocols.items()}
        fixed["random"] = summarize_episodes(evaluate_cohort(
            envs["cohort"], RandomPolicy(envs["cohort"].action_space.n, seed=0), split_idx["test"], args.test_seeds))
        cache.update(reference=reference, fixed_validation=validation, fixed_test=fixed)
        print(f"reference (best fixed protocol on validation): {reference}")

        def run(label, kind, seed, cvar_alpha=1.0, entropy_weight=0.0):
            # runs are cached by configuration: "ATLP alpha=1, seed 0" is the selection run of the chosen lambda
            name = f"{kind} seed={seed} alpha={cvar_alpha} lambda={entropy_weight}"
            kwargs = {} if kind == "qrdqn" else {"cvar_alpha": cvar_alpha, "entropy_weight": entropy_weight}
            if name not in cache["runs"]:
                agent, info = train_and_select(kind, seed, args, envs, split_idx, workdir, **kwargs)
                info["test"] = test_summary(agent, envs, split_idx, args)
                cache["runs"][name] = {"kind": kind, "seed": seed, **kwargs, **info}
                save()
                v, t = info["validation"], info["test"]
                print(f"{label} ({name}): validation mean {v['mean_return']:.2f} p10 {v['p10_return']:.2f} | test mean "
                      f"{t['mean_return']:.2f} p10 {t['p10_return']:.2f} ({info['train_seconds']:.0f} s)", flush=True)
            return cache["runs"][name]

        # 2. hyperparameters on validation patients only (seed 0)
        lam = max(args.lambdas, key=lambda v: run(f"select lambda={v}", "atlp", 0, entropy_weight=v)["validation"]
                  ["mean_return"])
        alpha = max(args.alphas, key=lambda a: run(f"select alpha={a}", "atlp", 0, cvar_alpha=a, entropy_weight=lam)
                    ["validation"]["p10_return"])
        cache.update(selected={"entropy_weight": lam, "cvar_alpha": alpha})
        save()
        print(f"selected on validation: lambda {lam}, alpha {alpha}")

        # 3. learners at equal environment steps, evaluated on test
        methods = {"QRDQN (sb3-contrib)": ("qrdqn", {}), "ATLP alpha=1": ("atlp", {"entropy_weight": lam}),
                   f"ATLP alpha={alpha}": ("atlp", {"cvar_alpha": alpha, "entropy_weight": lam})}
        learned = {}
        for method, (kind, kwargs) in methods.items():
            learned[method] = [run(f"{method} seed={s}", kind, s, **kwargs)["test"] for s in args.seeds]

    ref = fixed[reference]
    print(f"\nTest patients: {len(split_idx['test'])} x {len(args.test_seeds)} noise seeds; learners: mean +- sd over "
          f"seeds {args.seeds}; ratios to '{reference}' (best fixed protocol on validation)\n")
    header = "| policy | " + " | ".join(METRICS) + " | " + " | ".join(f"{m} ratio" for m in METRICS) + " |"
    print(header)
    print("|" + "---|" * (1 + 2 * len(METRICS)))
    rows = {}
    for name, summary in fixed.items():
        rows[name] = ([f"{summary[m]:.3f}" for m in METRICS], ratios_to_reference(summary, ref))
    for method, summaries in learned.items():
        values = {m: np.array([s[m] for s in summaries]) for m in METRICS}
        mean = {m: float(values[m].mean()) for m in METRICS}
        rows[method] = ([f"{values[m].mean():.3f} +- {values[m].std():.3f}" for m in METRICS],
                        {m: (mean[m] / ref[m] if ref[m] > 0 else None) for m in METRICS})
    for name, (values, ratios) in rows.items():
        cells = [f"{ratios[m]:.2f}x" if ratios.get(m) is not None else "n/a" for m in METRICS]
        print(f"| {name} | " + " | ".join(values) + " | " + " | ".join(cells) + " |")
    atlp1 = np.mean([s["mean_return"] for s in learned["ATLP alpha=1"]])
    risky = np.mean([s["p10_return"] for s in learned[f"ATLP alpha={alpha}"]])
    plain = np.mean([s["p10_return"] for s in learned["QRDQN (sb3-contrib)"]])
    best_atlp = max(np.mean([s["mean_return"] for s in learned[m]]) for m in learned if m.startswith("ATLP"))
    met = "met" if best_atlp >= 1.1 * ref["mean_return"] else "NOT met"
    print(f"\ngoal 1: ATLP mean return >= 1.10 x best fixed protocol: ATLP alpha=1 {atlp1 / ref['mean_return']:.2f}x, "
          f"best ATLP {best_atlp / ref['mean_return']:.2f}x -> {met}")
    print(f"goal 2: ATLP alpha={alpha} 10th-percentile return above QRDQN's: {risky:.3f} vs {plain:.3f} -> "
          f"{'met' if risky > plain else 'NOT met'}")


if __name__ == "__main__":
    main()
