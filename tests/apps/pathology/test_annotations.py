# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""ASAP annotations: group semantics, masks against matplotlib's point-in-polygon, exclusions never positive, errors."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.path import Path

from monai_dianet.apps.pathology import read_asap_annotation
from monai_dianet.data.synthetic import write_asap_polygons

SQUARE = np.array([[100.0, 100.0], [900.0, 100.0], [900.0, 900.0], [100.0, 900.0]])
HOLE = np.array([[400.0, 400.0], [600.0, 400.0], [600.0, 600.0], [400.0, 600.0]])
TRIANGLE = np.array([[1000.0, 150.0], [1500.0, 700.0], [1050.0, 880.5]])
PART_OUTSIDE_HOLE = np.array([[850.0, 850.0], [1000.0, 850.0], [1000.0, 1000.0]])


def _reference(shape, downsample, origin, tumour, exclusion):
    """Pixel-centre point-in-polygon with matplotlib (an independent implementation)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    centres = np.stack([origin[1] + (cols + 0.5) * downsample, origin[0] + (rows + 0.5) * downsample], -1)
    centres = centres.reshape(-1, 2)
    inside = np.zeros(len(centres), bool)
    for poly in tumour:
        inside |= Path(poly).contains_points(centres)
    for poly in exclusion:
        inside &= ~Path(poly).contains_points(centres)
    return inside.reshape(shape)


@pytest.mark.parametrize(
    "groups",
    [("Tumor", "Tumor", "Exclusion", "Exclusion"), ("_0", "_1", "_2", "_2"), ("metastases", "_0", "Exclusion", "_2")],
)
def test_groups_and_masks_match_reference(tmp_path, groups):
    path = tmp_path / "a.xml"
    write_asap_polygons(path, [SQUARE, TRIANGLE, HOLE, PART_OUTSIDE_HOLE], group=list(groups))
    ann = read_asap_annotation(path, slide_dimensions=(2048, 2048))
    assert len(ann.tumour) == 2 and len(ann.exclusion) == 2
    grids = [((128, 128), 16.0, (0, 0)), ((64, 80), 4.0, (300, 250)), ((40, 40), 1.0, (580, 580))]
    for shape, downsample, origin in grids:
        mask = ann.mask(shape, downsample, origin)
        expected = _reference(shape, downsample, origin, [SQUARE, TRIANGLE], [HOLE, PART_OUTSIDE_HOLE])
        disagree = mask.astype(bool) != expected
        # the two implementations may only differ on pixel centres lying on an edge
        assert disagree.mean() < 0.01, (shape, downsample, disagree.sum())
        excluded = _reference(shape, downsample, origin, [HOLE, PART_OUTSIDE_HOLE], [])
        assert not mask[excluded].any()  # excluded pixels are never positive
        np.testing.assert_array_equal(ann.exclusion_mask(shape, downsample, origin).astype(bool) & ~expected, excluded)


def test_generated_exclusions_are_holes(camelyon_slides):
    entry = camelyon_slides[0]
    ann = read_asap_annotation(entry["annotation"], slide_dimensions=(entry["size"],) * 2)
    assert ann.tumour and ann.exclusion
    mask = ann.mask((256, 256), 8.0)
    hole = ann.exclusion_mask((256, 256), 8.0).astype(bool)
    outline = _reference((256, 256), 8.0, (0, 0), ann.tumour, [])
    assert hole.sum() > 4 and (outline & hole).sum() == hole.sum()  # the exclusion lies inside the outline
    assert not mask[hole].any() and mask.sum() == (outline & ~hole).sum()


def test_errors_name_the_file(tmp_path):
    write_asap_polygons(tmp_path / "empty.xml", [])
    with pytest.raises(ValueError, match=r"empty\.xml: no polygon annotations"):
        read_asap_annotation(tmp_path / "empty.xml")
    write_asap_polygons(tmp_path / "other.xml", [SQUARE], group="None")
    with pytest.warns(UserWarning, match="skipped annotations of group 'None'"), pytest.raises(
        ValueError, match=r"other\.xml: no polygon"
    ):
        read_asap_annotation(tmp_path / "other.xml")
    write_asap_polygons(tmp_path / "big.xml", [SQUARE * 3])
    with pytest.raises(ValueError, match=r"big\.xml: tumour coordinates span x 300.0..2700.0.*outside the slide"):
        read_asap_annotation(tmp_path / "big.xml", slide_dimensions=(2048, 2048))
    (tmp_path / "broken.xml").write_text("<ASAP_Annotations><Annotations>")
    with pytest.raises(ValueError, match=r"broken\.xml is not well-formed XML"):
        read_asap_annotation(tmp_path / "broken.xml")
    (tmp_path / "nan.xml").write_text(
        '<ASAP_Annotations><Annotations><Annotation Name="a" Type="Polygon" PartOfGroup="Tumor"><Coordinates>'
        '<Coordinate Order="0" X="1" Y="z"/></Coordinates></Annotation></Annotations></ASAP_Annotations>'
    )
    with pytest.raises(ValueError, match=r"nan\.xml: annotation 'a' has a coordinate without numeric"):
        read_asap_annotation(tmp_path / "nan.xml")
    (tmp_path / "line.xml").write_text(
        '<ASAP_Annotations><Annotations><Annotation Name="l" Type="Polygon" PartOfGroup="_0"><Coordinates>'
        '<Coordinate Order="0" X="1" Y="2"/><Coordinate Order="1" X="3" Y="4"/></Coordinates></Annotation>'
        "</Annotations></ASAP_Annotations>"
    )
    with pytest.raises(ValueError, match=r"line\.xml: annotation 'l' \(Polygon\) needs at least 3"):
        read_asap_annotation(tmp_path / "line.xml")


def test_dots_are_skipped(tmp_path):
    (tmp_path / "dots.xml").write_text(
        '<ASAP_Annotations><Annotations><Annotation Name="d" Type="Dot" PartOfGroup="Tumor"><Coordinates>'
        '<Coordinate Order="0" X="1" Y="2"/></Coordinates></Annotation>'
        '<Annotation Name="s" Type="Spline" PartOfGroup="Tumor"><Coordinates><Coordinate Order="0" X="0" Y="0"/>'
        '<Coordinate Order="2" X="0" Y="10"/><Coordinate Order="1" X="10" Y="0"/></Coordinates></Annotation>'
        "</Annotations></ASAP_Annotations>"
    )
    with pytest.warns(UserWarning, match="type 'Dot'"):
        ann = read_asap_annotation(tmp_path / "dots.xml")
    assert len(ann.tumour) == 1
    np.testing.assert_array_equal(ann.tumour[0], [[0, 0], [10, 0], [0, 10]])  # points in Order
