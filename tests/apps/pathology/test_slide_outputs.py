# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Heat-map stitching, per-slide files (OpenSlide-readable pyramid, ASAP XML, CAMELYON16 CSV, JSON) and slide-level
evaluation (MONAI LesionFROC on XML ground truth, AUC, kappa), with an oracle and with planted errors."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET

import numpy as np
import openslide
import pytest
from PIL import Image
from scipy import ndimage

from monai_dianet.apps.pathology import (
    CamelyonFROC,
    HeatmapStitcher,
    SlideMaps,
    SlideOutputWriter,
    detect_lesions,
    evaluate_slides,
    load_annotation,
    plan_slide,
    plot_froc,
    write_heatmap_tiff,
)
from tests.utils import global_backend_kept


@pytest.fixture(scope="module")
def plans(camelyon_slides):
    return [plan_slide(e["slide"], 1.0, 64, heatmap_level=2, annotation=e["annotation"]) for e in camelyon_slides]


def _oracle(plans, output_dir, scalar=False):
    """Feed each grid patch its ground-truth mask (or its centre label); returns the written records."""
    stitcher, writer, records = HeatmapStitcher(plans), SlideOutputWriter(output_dir), []
    for plan in plans:
        ann = load_annotation(plan.annotation) if plan.annotation else None
        for loc in plan.locations:
            mask = ann.mask((64, 64), plan.extent / 64, loc) if ann else np.zeros((64, 64))
            mask = mask.astype(np.float32)
            value = float(mask[16:48, 16:48].max()) if scalar else mask
            maps = stitcher.add(plan.name, loc, value, np.full((8, 8), 0.1 if ann else 0.02, np.float32))
            if maps is not None:
                records.append(writer(maps))
    assert not stitcher.pending
    return records


def test_stitched_oracle_is_the_mask(plans, tmp_path):
    records = _oracle(plans, tmp_path)
    for plan, record in zip(plans, records):
        heat = np.load(record["files"]["heatmap_npy"])
        assert heat.shape == plan.heatmap_shape
        truth = load_annotation(plan.annotation).mask(heat.shape, 4.0) if plan.annotation else np.zeros(heat.shape)
        # area-averaged masks at the 4x level equal the 4x mask except on lesion borders
        assert np.mean((heat >= 0.5) != truth.astype(bool)) < 0.003
        assert record["slide_score"] == (1.0 if plan.annotation else 0.0)


def test_batched_stitching_matches_a_per_patch_loop(plans):
    """``add_batch`` over shuffled batches mixing slides, shrunk maps, enlarged maps and scalars, against a loop
    that resizes each patch on its own (block mean / PIL bilinear) and accumulates pixel by pixel."""
    rng = np.random.default_rng(3)
    patches = [(plan, loc) for plan in plans for loc in plan.locations]
    order = rng.permutation(len(patches))
    probs = rng.random((len(patches), 64, 64)).astype(np.float32)  # shrunk 4x onto 16 heat-map pixels
    uncs = rng.random((len(patches), 8, 8)).astype(np.float32)  # enlarged 2x
    scalars = rng.random(len(patches)).astype(np.float32)
    size = int(plans[0].extent / plans[0].heatmap_downsample)
    assert size == 16 and all(int(p.extent / p.heatmap_downsample) == size for p in plans)

    ref = {p.name: np.zeros((4, *p.heatmap_shape)) for p in plans}  # prob, unc, scalar sums and counts
    for i, (plan, loc) in enumerate(patches):
        prob = probs[i].reshape(size, 4, size, 4).mean(axis=(1, 3))
        unc = np.asarray(Image.fromarray(uncs[i], mode="F").resize((size, size), Image.BILINEAR))
        r0, c0 = (int(round(v / plan.heatmap_downsample)) for v in loc)
        rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        inside = (r0 + rows < plan.heatmap_shape[0]) & (c0 + cols < plan.heatmap_shape[1])
        values = np.stack([prob, unc, np.full_like(prob, scalars[i]), np.ones_like(prob)])
        for channel in range(4):  # pixel by pixel, repeated pixels accumulate
            np.add.at(ref[plan.name][channel], (r0 + rows[inside], c0 + cols[inside]), values[channel][inside])

    stitchers = HeatmapStitcher(plans), HeatmapStitcher(plans)
    done = [{}, {}]
    for start in range(0, len(order), 13):
        idx = order[start : start + 13]
        names = [patches[i][0].name for i in idx]
        locs = np.array([patches[i][1] for i in idx])
        for maps in stitchers[0].add_batch(names, locs, probs[idx], uncs[idx]):
            done[0][maps.plan.name] = maps
        for maps in stitchers[1].add_batch(names, locs, scalars[idx]):
            done[1][maps.plan.name] = maps
    assert not stitchers[0].pending and not stitchers[1].pending and len(done[0]) == len(done[1]) == len(plans)
    for plan in plans:
        sums = ref[plan.name]
        count = np.maximum(sums[3], 1)
        maps, scalar_maps = done[0][plan.name], done[1][plan.name]
        np.testing.assert_allclose(maps.heatmap, sums[0] / count, atol=1e-5)
        np.testing.assert_allclose(maps.uncertainty, sums[1] / count, atol=1e-5)
        np.testing.assert_allclose(scalar_maps.heatmap, sums[2] / count, atol=1e-5)
        assert scalar_maps.uncertainty is None and np.array_equal(maps.covered, sums[3] > 0)
        assert sums[3].max() >= 1 and maps.covered.any()
    with pytest.raises(KeyError, match="no pending patches"):
        stitchers[0].add_batch([plans[0].name], np.zeros((1, 2)), np.zeros(1))


def test_files_open_and_align(plans, tmp_path, camelyon_slides):
    records = _oracle(plans, tmp_path)
    size = camelyon_slides[0]["size"]
    for plan, record in zip(plans, records):
        files = record["files"]
        with openslide.OpenSlide(files["heatmap"]) as heat, openslide.OpenSlide(plan.info.path) as slide:
            assert heat.level_count >= 2
            d = record["heatmap_downsample"]
            assert (heat.dimensions[0] * d, heat.dimensions[1] * d) == slide.dimensions == (size, size)
            assert float(heat.properties["openslide.mpp-x"]) == pytest.approx(plan.info.mpp * d)
            level0 = np.asarray(heat.read_region((0, 0), 0, heat.dimensions))[..., 0] / 255.0
            np.testing.assert_allclose(level0, np.load(files["heatmap_npy"]), atol=0.5 / 255 + 1e-6)
            heat_dimensions = heat.dimensions
        with openslide.OpenSlide(files["uncertainty"]) as unc:
            assert unc.level_count >= 2 and unc.dimensions == heat_dimensions
        overlays = [np.asarray(Image.open(files[key]).convert("RGB"), np.float32)
                    for key in ("overlay", "uncertainty_overlay")]
        assert overlays[0].shape == overlays[1].shape == (*heat_dimensions[::-1], 3)
        # the uniform oracle uncertainty fills the covered tissue with the top colour; a normal slide's heat is 0
        assert record["uncertainty_max"] == pytest.approx(0.1 if plan.annotation else 0.02, abs=1e-5)
        if not plan.annotation:
            assert np.abs(overlays[1] - overlays[0]).mean() > 5
        root = ET.parse(files["lesions_xml"]).getroot()
        coords = np.array([[float(c.get("X")), float(c.get("Y"))] for c in root.iter("Coordinate")]).reshape(-1, 2)
        assert len(root.findall("./Annotations/Annotation")) == record["lesion_count"]
        assert coords.size == 0 or (coords.min() >= 0 and coords.max() <= size)
        with open(files["detections_csv"]) as f:
            rows = list(csv.reader(f))
        assert len(rows) == len(record["detections"])
        for prob, x, y in rows:
            assert 0.5 < float(prob) <= 1 and 0 <= int(x) < size and 0 <= int(y) < size
        saved = json.load(open(files["json"]))
        for key in ("slide_score", "predicted_category", "lesion_count", "lesions", "case_uncertainty", "routing"):
            assert key in saved
        assert saved["routing"]["enabled"] is False and "no router was used" in saved["routing"]["note"]
        assert saved["case_uncertainty"] == pytest.approx(0.1 if plan.annotation else 0.02, abs=1e-5)
        if plan.annotation:  # the written lesions are the ground-truth regions at the 4x level
            truth = load_annotation(plan.annotation).mask(plan.heatmap_shape, 4.0)
            assert record["lesion_count"] == ndimage.label(truth, np.ones((3, 3)))[1]
            for lesion in saved["lesions"]:
                assert lesion["diameter_mm"] > 0 and lesion["area_mm2"] > 0
        assert (tmp_path / f"{plan.name}_overlay.png").stat().st_size > 1000


def test_smoothing_joins_speckles_into_one_lesion(plans, tmp_path):
    plan = plans[0]
    heat = np.zeros(plan.heatmap_shape, np.float32)
    for r in range(100, 140, 4):  # 3x3 blobs 1 pixel apart: a speckled region, as nuclei-level segmentation gives
        for c in range(100, 140, 4):
            heat[r : r + 3, c : c + 3] = 1.0
    maps = SlideMaps(plan=plan, heatmap=heat, uncertainty=None, covered=np.ones(heat.shape, bool))
    raw = SlideOutputWriter(tmp_path / "raw")(maps)
    smooth = SlideOutputWriter(tmp_path / "smooth", smooth_um=8.0)(maps)  # sigma 2 heat-map pixels (4 um each)
    assert raw["lesion_count"] > 1 and smooth["lesion_count"] == 1 and smooth["smooth_um"] == 8.0
    written = np.load(smooth["files"]["heatmap_npy"])
    assert written[110:130, 110:130].min() > 0.5 and np.abs(written - heat).max() > 0.3  # the written map is smoothed


def test_lesion_sizes_in_mm():
    heat = np.zeros((100, 120), np.float32)
    heat[10:30, 20:60] = 0.9  # 20 x 40 pixels
    heat[70, 100] = 0.7  # one pixel
    lesions = detect_lesions(heat, downsample=8.0, mpp=0.5)  # 4 um per heat-map pixel
    assert [lesion.probability for lesion in lesions] == pytest.approx([0.9, 0.7])
    assert lesions[0].area_mm2 == pytest.approx(800 * 0.004**2)
    assert lesions[0].diameter_mm == pytest.approx(np.hypot(19, 39) * 0.004, rel=0.05)
    assert (lesions[1].x, lesions[1].y) == (100.5 * 8, 70.5 * 8)
    poly = lesions[0].polygon
    assert poly[:, 0].min() == pytest.approx(20 * 8, abs=8) and poly[:, 0].max() == pytest.approx(60 * 8, abs=8)


def test_froc_and_slide_metrics(plans, tmp_path):
    truth = {p.name: {"annotation": p.annotation, "label": int(bool(p.annotation))} for p in plans}
    summary, rows = evaluate_slides(_oracle(plans, tmp_path / "oracle"), truth)
    assert summary["froc"]["froc"] == 1.0 and summary["slide_auc"] == 1.0 and summary["category_accuracy"] == 1.0
    assert summary["froc"]["num_targets"] >= 2 and summary["category_kappa"] == 1.0
    assert [r["slide"] for r in rows] == [p.name for p in plans]
    # planted errors, reference values by the CAMELYON16 definition (sensitivity at 1/4, 1/2, 1, 2, 4, 8 FP/slide)
    records = _oracle(plans, tmp_path / "errors")
    data = [{"prob_map": r["files"]["heatmap_npy"], "annotation": truth[r["slide"]]["annotation"],
             "slide": r["file"], "level": 2} for r in records]
    box = records[0]["nms_box"]
    targets = summary["froc"]["num_targets"]
    # 1) every tumour heat map at 0.9 and one false positive at 0.99 on the normal slide: at the FP's threshold
    # there is 1/3 FP per slide and no TP, below it every TP: sensitivity 0 at 1/4 FP/slide, 1 from 1/2 on
    for record in records:
        heat = np.load(record["files"]["heatmap_npy"]) * 0.9
        if record["slide"] == "normal_001":
            heat[100:110, 100:110] = 0.99
        np.save(record["files"]["heatmap_npy"], heat)
    curve = CamelyonFROC(data, nms_box_size=box).evaluate_curve()
    assert curve["sensitivities"]["0.25"] == 0.0 and curve["sensitivities"]["0.5"] == 1.0
    assert curve["froc"] == pytest.approx(5 / 6)
    # 2) no false positive, one true lesion erased: sensitivity (n - 1) / n at every rate
    normal = next(r for r in records if r["slide"] == "normal_001")
    np.save(normal["files"]["heatmap_npy"], np.zeros(plans[2].heatmap_shape, np.float32))
    tumour = records[0]
    heat = np.load(tumour["files"]["heatmap_npy"])
    lesion = tumour["lesions"][0]
    regions, _ = ndimage.label(heat >= 0.5, np.ones((3, 3)))
    heat[regions == regions[int(lesion["y"] // 4), int(lesion["x"] // 4)]] = 0
    np.save(tumour["files"]["heatmap_npy"], heat)
    curve = CamelyonFROC(data, nms_box_size=box).evaluate_curve()
    assert curve["froc"] == pytest.approx((targets - 1) / targets)
    with global_backend_kept():
        assert plot_froc(tmp_path / "froc.png", curve, title="test") == str(tmp_path / "froc.png")
    assert (tmp_path / "froc.png").stat().st_size > 5_000
    assert plot_froc(tmp_path / "none.png", {"fps_per_image": []}) is None and not (tmp_path / "none.png").exists()


def test_heatmap_tiff_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        write_heatmap_tiff(tmp_path / "x.tif", np.zeros((2, 3, 4)), 1.0)
    with pytest.raises(ValueError, match="multiple of 16"):
        write_heatmap_tiff(tmp_path / "x.tif", np.zeros((20, 20)), 1.0, tile=20)
    path = write_heatmap_tiff(tmp_path / "small.tif", np.full((20, 30), 0.5), 2.0, tile=16)
    with openslide.OpenSlide(path) as small:
        assert small.level_count == 2 and small.level_dimensions == ((30, 20), (15, 10))
