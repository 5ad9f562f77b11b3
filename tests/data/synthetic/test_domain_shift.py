# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_dianet.data.synthetic.domain_shift import generate_lesion_slice, make_domain_shift_task


def test_lesion_slice_shapes_and_contrast():
    image, label = generate_lesion_slice(np.random.default_rng(0), size=32)
    assert image.shape == label.shape == (1, 32, 32)
    assert set(np.unique(label)) <= {0.0, 1.0} and label.sum() > 0
    assert image[label > 0].mean() > image[label == 0].mean() + 0.2  # lesions are bright
    _, empty = generate_lesion_slice(np.random.default_rng(0), size=32, max_lesions=0, min_lesions=0)
    assert empty.sum() == 0


@pytest.mark.parametrize("task", ["segmentation", "classification"])
def test_task_splits_are_deterministic_and_shifted(task):
    a = make_domain_shift_task(4, 4, 6, size=32, seed=3, task=task)
    b = make_domain_shift_task(4, 4, 6, size=32, seed=3, task=task)
    assert [len(a[k]) for k in ("source_train", "target_train", "source_test", "target_test")] == [4, 4, 6, 6]
    assert "label" not in a["target_train"][0]  # unlabelled target training data
    for key in a:
        for x, y in zip(a[key], b[key]):
            torch.testing.assert_close(x["image"], y["image"])
    src = torch.stack([d["image"] for d in a["source_test"]])
    tgt = torch.stack([d["image"] for d in a["target_test"]])
    assert src.shape == tgt.shape == (6, 1, 32, 32)
    # the default target scanner is darker (x 0.7; plus noise)
    assert float(tgt.mean() / src.mean()) == pytest.approx(0.7, abs=0.03)
    if task == "classification":
        labels = [int(d["label"]) for d in a["target_test"]]
        assert labels == [0, 1, 0, 1, 0, 1]
        assert all(float(d["mask"].sum() > 0) == d["label"] for d in a["target_test"])
    else:
        assert a["source_test"][0]["label"].shape == (1, 32, 32)


def test_validation_splits_leave_the_other_splits_unchanged():
    plain = make_domain_shift_task(4, 4, 6, size=32, seed=3, task="classification")
    with_val = make_domain_shift_task(4, 4, 6, size=32, seed=3, task="classification", num_val=5)
    assert set(with_val) == set(plain) | {"source_val", "target_val"}
    assert len(with_val["source_val"]) == len(with_val["target_val"]) == 5
    assert "label" in with_val["target_val"][0]  # labelled: choices about the demo are made on these
    for key in plain:
        for x, y in zip(plain[key], with_val[key]):
            torch.testing.assert_close(x["image"], y["image"])
    test_images = {d["image"].numpy().tobytes() for d in with_val["target_test"]}
    assert not test_images & {d["image"].numpy().tobytes() for d in with_val["target_val"]}


@pytest.mark.parametrize(
    "kwargs",
    [{"num_source": 0}, {"task": "detection"}, {"target_shift": {"hue": 1.0}}, {"size": 8}, {"num_val": -1}],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_domain_shift_task(**{"num_source": 2, "num_target": 2, "num_test": 2, "size": 32, **kwargs})
