# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Reinforcement learning for treatment policies (OncoStrat's ATLP, section 3.4.3, eq 28-31).

- :mod:`.dynamics`: published tumour-response ODE models (de Pillis, Gu & Radunskaya 2006; de Pillis &
  Radunskaya 2003 as used by Ahn & Park 2011), solved with ``scipy.integrate.solve_ivp``;
- :mod:`.envs`: the Gymnasium treatment environment, registered as ``monai_dianet/ChemoImmuno-v0`` and
  ``monai_dianet/Chemo-v0`` on import;
- :mod:`.agents`: the ATLP agent on sb3-contrib's QR-DQN (CVaR action choice, eq 31 entropy regularisation,
  multimodal state encoder);
- evaluation, reference policies, training callbacks, recommendation records and figures.
"""

from . import agents, dynamics, envs
from .agents import ATLP, ATLPAgent, ATLPPolicy, MultimodalStateEncoder, QuantileQNetwork, quantile_cvar
from .callbacks import ValidationCallback, atomic_save
from .envs import ENV_IDS, PatientDistribution, PatientProfile, Regimen, TreatmentEnv, TreatmentReward
from .evaluation import EpisodeRecord, evaluate_cohort, run_episode, summarize_episodes
from .plots import plot_learning_curve, plot_treatment_trajectories
from .policies import AgentPolicy, FixedProtocol, RandomPolicy
from .recommendation import fit_review_threshold, quantile_spread, recommendation_record

__all__ = [
    "agents",
    "dynamics",
    "envs",
    "ATLP",
    "ATLPAgent",
    "ATLPPolicy",
    "MultimodalStateEncoder",
    "QuantileQNetwork",
    "quantile_cvar",
    "ValidationCallback",
    "atomic_save",
    "ENV_IDS",
    "PatientDistribution",
    "PatientProfile",
    "Regimen",
    "TreatmentEnv",
    "TreatmentReward",
    "EpisodeRecord",
    "evaluate_cohort",
    "run_episode",
    "summarize_episodes",
    "plot_learning_curve",
    "plot_treatment_trajectories",
    "AgentPolicy",
    "FixedProtocol",
    "RandomPolicy",
    "fit_review_threshold",
    "quantile_spread",
    "recommendation_record",
]
