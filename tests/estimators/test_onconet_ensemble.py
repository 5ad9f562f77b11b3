# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""OncoNetEnsemble / to_module: the fitted estimators as one torch module (same predictions, rebuilt from its
config, TorchScript), and the member combination."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sksurv.util import Surv

from monai_dianet.estimators import OncoNetClassifier, OncoNetEnsemble, OncoNetSurvival, combine_member_outputs
from monai_dianet.losses import hazards_to_survival

FAST = dict(max_epochs=8, patience=3, n_splits=2, embed_dim=8, hidden_dims=(8,), wide=True)


def _data(n: int = 50, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 7)).astype(np.float32)
    x[3, 1] = x[5, 6] = np.nan  # imputed with the training medians, in the module too
    score = x[:, 0] - np.nan_to_num(x[:, 6])
    time = rng.exponential(100 * np.exp(-score))
    return x, Surv.from_arrays(event=rng.random(n) < 0.7, time=time), (score > 0).astype(int)


@pytest.mark.parametrize("kind", ["classifier", "cox", "nll"])
def test_module_equals_estimator_predictions(kind):
    x, y, label = _data()
    if kind == "classifier":
        est = OncoNetClassifier(clinical_columns=[5, 6], **FAST).fit(x, label)
        want = est.predict_proba(x)
    else:
        est = OncoNetSurvival(clinical_columns=[5, 6], loss=kind, **FAST).fit(x, y)
        want = est.predict_risk(x)[:, None]
    module = est.to_module()
    genes, clinical = torch.as_tensor(x[:, :5]), torch.as_tensor(x[:, 5:])
    with torch.no_grad():
        got = module(genes=genes, clinical=clinical)
        assert got.shape == want.shape and np.allclose(got.numpy(), want, atol=1e-5)
        # a batch dictionary, and one (B, G + C) tensor, give the same
        assert torch.equal(module({"genes": genes, "clinical": clinical}), got)
        assert torch.equal(module(torch.as_tensor(x)), got)
        # rebuilt from its plain-value config and state dict, as a bundle's network_def + CheckpointLoader do
        rebuilt = OncoNetEnsemble(**module.config)
        rebuilt.load_state_dict(module.state_dict())
        assert torch.equal(rebuilt.eval()(torch.as_tensor(x)), got)
        # TorchScript (traced, as MONAI's ckpt_export does) at another batch size
        traced = torch.jit.trace(module, torch.as_tensor(np.nan_to_num(x[:4])))
        assert torch.allclose(traced(torch.as_tensor(x[10:30])), got[10:30], atol=1e-5)
    with pytest.raises(ValueError, match="pass clinical"):
        module(genes=genes)


def test_combination_and_errors():
    outputs = torch.randn(3, 4, 5)
    assert torch.allclose(combine_member_outputs(outputs, "softmax"), torch.softmax(outputs, -1).mean(0))
    assert torch.allclose(combine_member_outputs(outputs, "cox"), outputs[..., :1].mean(0))
    survival = torch.stack([hazards_to_survival(o) for o in outputs]).mean(0)
    assert torch.allclose(combine_member_outputs(outputs, "nll"), -survival.sum(-1, keepdim=True))
    with pytest.raises(ValueError, match="mode"):
        combine_member_outputs(outputs, "mean")
    with pytest.raises(ValueError, match="mode"):
        OncoNetEnsemble(2, 3, 1, mode="aft")
    x, y, _ = _data()
    import pandas as pd

    frame = pd.DataFrame(x, columns=[f"c{i}" for i in range(7)]).assign(grade=pd.Categorical(["a", "b"] * 25))
    est = OncoNetSurvival(clinical_columns=["c6", "grade"], **FAST).fit(frame, y)
    with pytest.raises(ValueError, match="categorical"):
        est.to_module()
