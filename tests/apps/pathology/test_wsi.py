# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Slide access: SlideInfo against OpenSlide itself, mpp fallback warning, unusable files, resampled reads."""

from __future__ import annotations

import numpy as np
import openslide
import pytest
import tifffile
from monai.transforms import Compose, Resized
from PIL import Image

from monai_dianet.apps.pathology import patch_dataset, plan_slide, read_level, read_slide_info
from monai_dianet.data.synthetic import generate_camelyon


def _retag(src: str, dst, mpp: float | None, levels: int | None = None) -> str:
    """Copy a slide's pyramid pages into a new tiled TIFF with another resolution tag (or none)."""
    with tifffile.TiffFile(src) as tif:
        pages = [p.asarray() for p in tif.pages][:levels]
    with tifffile.TiffWriter(dst) as out:
        for i, page in enumerate(pages):
            res = {} if mpp is None else {"resolution": (1e4 / (mpp * 2**i),) * 2, "resolutionunit": "CENTIMETER"}
            out.write(page, tile=(256, 256), photometric="rgb", subfiletype=int(i > 0), metadata=None, **res)
    return str(dst)


def test_info_matches_openslide(camelyon_slides):
    size, mpp = camelyon_slides[0]["size"], camelyon_slides[0]["mpp"]
    info = read_slide_info(camelyon_slides[0]["slide"])
    with openslide.OpenSlide(camelyon_slides[0]["slide"]) as slide:
        assert info.dimensions == slide.dimensions == (size, size)
        assert info.level_dimensions == slide.level_dimensions
        assert info.level_downsamples == pytest.approx(slide.level_downsamples)
    assert info.mpp == pytest.approx(mpp) and info.mpp_from_file and info.name == "tumor_001"
    thumb = read_level(info, 3)
    assert thumb.shape == (size // 8, size // 8, 3) and thumb.dtype == np.uint8
    with pytest.raises(ValueError, match="level 7"):
        read_level(info, 7)


def test_missing_mpp_warns_and_falls_back(tmp_path):
    entry = generate_camelyon(tmp_path, num=1, size=1024, mpp=None, tumor_fraction=0.0)[0]
    with openslide.OpenSlide(entry["slide"]) as slide:
        assert "openslide.mpp-x" not in slide.properties
    with pytest.warns(UserWarning, match=r"normal_001\.tif: no microns-per-pixel.*assuming 0\.75 um/px"):
        info = read_slide_info(entry["slide"], fallback_mpp=0.75)
    assert info.mpp == 0.75 and not info.mpp_from_file
    with pytest.raises(ValueError, match="normal_001.tif: the file has no microns-per-pixel"):
        read_slide_info(entry["slide"])
    with pytest.warns(UserWarning, match="assuming 2.0 um/px"):  # plan_slide falls back to the working mpp
        plan = plan_slide(entry["slide"], working_mpp=2.0, patch_size=32, heatmap_level=1)
    assert plan.level == 0 and plan.read_size == 32


def test_unusable_files_name_the_file(tmp_path, camelyon_slides):
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00" + bytes(range(256)) * 8)
    with pytest.raises(ValueError, match=r"corrupt\.tif: OpenSlide cannot open"):
        read_slide_info(corrupt)
    flat = _retag(camelyon_slides[2]["slide"], tmp_path / "flat.tif", 1.0, levels=1)
    with pytest.raises(ValueError, match=r"flat\.tif: not pyramidal"):
        read_slide_info(flat)
    stripped = tmp_path / "stripped.tif"
    tifffile.imwrite(stripped, np.zeros((300, 300, 3), np.uint8), photometric="rgb")
    with pytest.raises(ValueError, match=r"stripped\.tif: OpenSlide cannot open"):
        read_slide_info(stripped)
    with pytest.raises(FileNotFoundError, match="nothing.tif"):
        read_slide_info(tmp_path / "nothing.tif")


@pytest.mark.parametrize("file_mpp, level, read_size", [(0.5, 1, 64), (0.8, 0, 80), (1.0, 0, 64), (0.25, 2, 64)])
def test_read_plan_and_resampled_patch(tmp_path, camelyon_slides, file_mpp, level, read_size):
    """The same pixels tagged with another resolution are read from the right level and resized to the working one."""
    path = _retag(camelyon_slides[0]["slide"], tmp_path / "retagged.tif", file_mpp)
    plan = plan_slide(path, working_mpp=1.0, patch_size=64, heatmap_level=2)
    assert (plan.level, plan.read_size) == (level, read_size)
    assert plan.extent == pytest.approx(read_size * 2**level)
    location = plan.locations[len(plan.locations) // 2]
    entry = plan.entry(location)
    resize = Compose([Resized("image", (64, 64), mode="bilinear", anti_aliasing=True)])
    item = patch_dataset([entry], transform=resize)[0]
    image = item["image"]
    assert tuple(image.shape) == (3, 64, 64)
    with openslide.OpenSlide(path) as slide:  # reference: OpenSlide read at that level, resized by PIL (box filter)
        raw = slide.read_region((int(location[1]), int(location[0])), level, (read_size, read_size)).convert("RGB")
    reference = np.asarray(raw.resize((64, 64), Image.BOX), dtype=np.float64)
    patch = np.moveaxis(np.asarray(image, dtype=np.float64), 0, -1)
    if read_size == 64:
        np.testing.assert_array_equal(patch, reference)
    else:  # antialiased bilinear (MONAI) and box (PIL) filters differ per pixel at a 1.25x ratio, less over blocks
        blocks = [a.reshape(8, 8, 8, 8, 3).mean(axis=(1, 3)) for a in (patch, reference)]
        np.testing.assert_allclose(blocks[0], blocks[1], atol=3.5)
        assert np.abs(patch - reference).mean() < 1.5
