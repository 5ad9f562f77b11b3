# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Synthetic CAMELYON generator: slides read back with OpenSlide and MONAI WSIReader, ASAP XML with xml.etree."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import numpy as np
import pytest

openslide = pytest.importorskip("openslide")
tifffile = pytest.importorskip("tifffile")

from monai.data import WSIReader  # noqa: E402
from skimage.draw import polygon as draw_polygon  # noqa: E402

from monai_dianet.data.synthetic import generate_camelyon, read_asap_polygons, write_asap_polygons  # noqa: E402

SIZE = 2048


@pytest.fixture(scope="module")
def slides(tmp_path_factory):
    out = tmp_path_factory.mktemp("camelyon")
    return out, generate_camelyon(out, num=3, seed=0, size=SIZE)


def _asap_polygons(path) -> list[np.ndarray]:
    """Parse ASAP XML the plain way a user would, with xml.etree only."""
    root = ET.parse(path).getroot()
    assert root.tag == "ASAP_Annotations"
    polygons = []
    for annotation in root.find("Annotations").findall("Annotation"):
        assert annotation.get("Type") == "Polygon" and annotation.get("PartOfGroup") == "Tumor"
        assert annotation.get("Name").startswith("Annotation ")
        points = annotation.find("Coordinates").findall("Coordinate")
        assert [int(p.get("Order")) for p in points] == list(range(len(points)))
        polygons.append(np.array([[float(p.get("X")), float(p.get("Y"))] for p in points]))
    groups = root.find("AnnotationGroups").findall("Group")
    assert [g.get("Name") for g in groups] == ["Tumor"]
    return polygons


def _is_tissue(rgb: np.ndarray) -> np.ndarray:
    """Stained pixels: darker or more saturated than the pale glass background."""
    rgb = rgb.astype(np.int32)
    return (rgb.mean(axis=-1) < 215) | (rgb.max(axis=-1) - rgb.min(axis=-1) > 30)


def test_files_and_labels(slides):
    out, entries = slides
    assert [e["label"] for e in entries] == ["tumor", "tumor", "normal"]
    names = ("tumor_001", "tumor_002", "normal_001")
    assert [e["slide"] for e in entries] == [str(out / "images" / f"{n}.tif") for n in names]
    assert entries[2]["annotation"] is None and not (out / "annotations" / "normal_001.xml").exists()
    with open(out / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == [
        {"slide": "tumor_001", "label": "tumor"},
        {"slide": "tumor_002", "label": "tumor"},
        {"slide": "normal_001", "label": "normal"},
    ]


def test_openslide_pyramid(slides):
    _, entries = slides
    for entry in entries:
        with openslide.OpenSlide(entry["slide"]) as slide:
            assert slide.level_count == 4  # 2048, 1024, 512, 256
            assert slide.dimensions == (SIZE, SIZE)
            np.testing.assert_allclose(slide.level_downsamples, [1, 2, 4, 8])
            assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.5)
            patch = np.asarray(slide.read_region((SIZE // 2, SIZE // 2), 0, (64, 64)).convert("RGB"))
            assert patch.shape == (64, 64, 3)
        with tifffile.TiffFile(entry["slide"]) as tif:
            assert len(tif.pages) == 4 and all(p.is_tiled and p.tilewidth == 256 for p in tif.pages)
            assert all(p.compression == tifffile.COMPRESSION.JPEG for p in tif.pages)
            assert [int(p.subfiletype) for p in tif.pages] == [0, 1, 1, 1]


def test_monai_wsireader(slides):
    _, entries = slides
    reader = WSIReader(backend="openslide")
    wsi = reader.read(entries[0]["slide"])
    assert reader.get_level_count(wsi) == 4
    assert tuple(reader.get_size(wsi, level=0)) == (SIZE, SIZE)
    patch, meta = reader.get_data(wsi, location=(1000, 900), size=(256, 256), level=0)
    assert tuple(patch.shape) == (3, 256, 256)
    low, _ = reader.get_data(wsi, level=2)
    assert tuple(low.shape) == (3, SIZE // 4, SIZE // 4)
    assert float(np.asarray(reader.get_mpp(wsi, level=0))[0]) == pytest.approx(0.5)


def test_annotations_lie_on_tissue_with_tumour_texture(slides):
    _, entries = slides
    for entry in entries[:2]:
        polygons = _asap_polygons(entry["annotation"])
        assert 1 <= len(polygons) <= 3
        with openslide.OpenSlide(entry["slide"]) as slide:
            level, down = 2, slide.level_downsamples[2]
            width, height = slide.level_dimensions[level]
            rgb = np.asarray(slide.read_region((0, 0), level, (width, height)).convert("RGB"))
        tissue = _is_tissue(rgb)
        assert 0.05 < tissue.mean() < 0.8  # pale background around the tissue sections
        tumour = np.zeros(tissue.shape, dtype=bool)
        for polygon in polygons:
            assert len(polygon) >= 3 and (polygon >= 0).all() and (polygon < SIZE).all()
            rows, cols = draw_polygon(polygon[:, 1] / down, polygon[:, 0] / down, shape=tissue.shape)
            assert len(rows) > 0
            assert tissue[rows, cols].mean() > 0.97  # the polygon lies on tissue
            tumour[rows, cols] = True
        # inside the polygons: more, bigger, darker nuclei -> darker and bluer than the other tissue
        other = tissue & ~tumour
        gray = rgb.astype(np.float64).mean(axis=-1)
        assert gray[tumour].mean() < gray[other].mean() - 15
        blue_minus_red = rgb[..., 2].astype(np.float64) - rgb[..., 0]
        assert blue_minus_red[tumour].mean() > blue_minus_red[other].mean()


def test_normal_slide_has_tissue_but_no_tumour_texture(slides):
    _, entries = slides
    with openslide.OpenSlide(entries[2]["slide"]) as slide:
        rgb = np.asarray(slide.read_region((0, 0), 2, slide.level_dimensions[2]).convert("RGB"))
    tissue = _is_tissue(rgb)
    assert tissue.mean() > 0.05
    assert rgb[:8, :8].mean() > 225  # corner is glass
    # no large dark patches like the metastases: smoothed darkness stays below tumour levels
    gray = rgb.astype(np.float64).mean(axis=-1)
    from scipy import ndimage

    assert ndimage.uniform_filter(gray, 16)[tissue].min() > 120


def test_deterministic_for_a_seed(tmp_path):
    a = generate_camelyon(tmp_path / "a", num=1, seed=3, size=1024)
    b = generate_camelyon(tmp_path / "b", num=1, seed=3, size=1024)
    c = generate_camelyon(tmp_path / "c", num=1, seed=4, size=1024)
    for key in ("slide", "annotation"):
        with open(a[0][key], "rb") as fa, open(b[0][key], "rb") as fb:
            assert fa.read() == fb.read()
    with openslide.OpenSlide(a[0]["slide"]) as sa, openslide.OpenSlide(c[0]["slide"]) as sc:
        assert sa.level_count == 3
        region_a, region_c = (np.asarray(s.read_region((0, 0), 1, (512, 512))) for s in (sa, sc))
        assert not np.array_equal(region_a, region_c)


def test_rectangular_all_normal(tmp_path):
    entries = generate_camelyon(tmp_path, num=2, seed=0, size=(1024, 1536), tumor_fraction=0.0)
    assert [e["label"] for e in entries] == ["normal", "normal"]
    assert all(e["annotation"] is None for e in entries)
    with openslide.OpenSlide(entries[0]["slide"]) as slide:
        assert slide.dimensions == (1024, 1536) and slide.level_count == 4


def test_tiles_join_without_seams(slides):
    """Level-0 pixels across a tile border differ no more than pixels inside a tile."""
    _, entries = slides
    with openslide.OpenSlide(entries[0]["slide"]) as slide:
        rgb = np.asarray(slide.read_region((0, 0), 0, (SIZE, SIZE)).convert("RGB")).astype(np.float64)
    jumps = np.abs(np.diff(rgb.mean(axis=-1), axis=1)).mean(axis=0)  # per column boundary
    border = jumps[255::256]
    inside = np.delete(jumps, np.s_[255::256])
    assert border.mean() < 1.5 * inside.mean()


def test_asap_roundtrip_and_errors(tmp_path):
    squares = [np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float), np.array([[5.5, 5], [8, 9.25], [3, 7]])]
    path = tmp_path / "a.xml"
    write_asap_polygons(path, squares)
    parsed = read_asap_polygons(path)
    assert [p["name"] for p in parsed] == ["Annotation 0", "Annotation 1"]
    assert all(p["group"] == "Tumor" and p["type"] == "Polygon" for p in parsed)
    for p, q in zip(parsed, squares):
        np.testing.assert_allclose(p["coordinates"], q)
    np.testing.assert_allclose(_asap_polygons(path)[1], squares[1])
    with pytest.raises(ValueError, match="polygon 0"):
        write_asap_polygons(tmp_path / "b.xml", [np.zeros((2, 2))])
    with pytest.raises(FileNotFoundError, match="missing.xml"):
        read_asap_polygons(tmp_path / "missing.xml")
    (tmp_path / "c.xml").write_text("<Other/>")
    with pytest.raises(ValueError, match="not an ASAP"):
        read_asap_polygons(tmp_path / "c.xml")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 1000}, "multiple of 256"),
        ({"size": 512}, "between 1024"),
        ({"size": (2048,)}, "width, height"),
        ({"size": "big"}, "integer or"),
        ({"num": 0}, "positive number of slides"),
        ({"tumor_fraction": 1.5}, "tumor_fraction"),
        ({"mpp": 0}, "mpp"),
        ({"quality": 0}, "quality"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_camelyon(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_exclusion_groups_and_no_mpp(tmp_path):
    entries = generate_camelyon(tmp_path, num=1, seed=0, size=1024, mpp=None, exclusions=True, groups=("_0", "_2"))
    groups = {p["group"] for p in read_asap_polygons(entries[0]["annotation"])}
    assert groups <= {"_0", "_2"} and "_0" in groups
    root = ET.parse(entries[0]["annotation"]).getroot()
    assert [g.get("Name") for g in root.find("AnnotationGroups").findall("Group")] == sorted(groups)
    with openslide.OpenSlide(entries[0]["slide"]) as slide:
        assert "openslide.mpp-x" not in slide.properties and slide.level_count == 3
    with pytest.raises(ValueError, match="groups must be two"):
        generate_camelyon(tmp_path / "bad", groups=("Tumor",))
