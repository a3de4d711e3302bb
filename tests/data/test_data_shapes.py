"""The synthetic captioning set: determinism, captions read off the scene, masks and grid cells."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rnnlab.data.errors import DataError
from rnnlab.data.shapes import (
    COLOURS,
    MIN_DX_PX,
    SHAPES,
    WORDS,
    ShapeObject,
    cell_coverage,
    describe,
    generate_shapes,
    make_scene,
    matching_objects,
    object_cells,
    object_mask,
    relation,
)


def test_scenes_are_deterministic_and_independent_of_the_count():
    a = generate_shapes("train", 6, seed=3)
    b = generate_shapes("train", 4, seed=3)
    assert np.array_equal(a.images[:4], b.images)
    assert a.captions[:4] == b.captions
    assert a.images.shape == (6, 56, 56, 3) and a.images.dtype == np.uint8
    other_split = generate_shapes("valid", 4, seed=3)
    other_seed = generate_shapes("train", 4, seed=4)
    assert not np.array_equal(other_split.images, b.images)
    assert not np.array_equal(other_seed.images, b.images)
    assert all(s.image is not None and s.image.base is not None for s in a.scenes)  # views


def test_relations_follow_the_vertical_offset():
    left = ShapeObject("red", "circle", 10, 20, 5)
    assert relation(left, ShapeObject("blue", "square", 30, 24, 5)) == "left of"  # 4 px: level
    assert relation(left, ShapeObject("blue", "square", 30, 31, 5)) == "above"  # right one lower
    assert relation(left, ShapeObject("blue", "square", 30, 9, 5)) == "below"  # right one higher
    assert relation(left, ShapeObject("blue", "square", 30, 28, 5)) is None  # 8 px: ambiguous
    objs = [
        left,
        ShapeObject("blue", "square", 30, 31, 5),
        ShapeObject("green", "cross", 45, 32, 5),
    ]
    tokens, owners = describe(objs)
    assert " ".join(tokens) == "a red circle above a blue square left of a green cross"
    assert owners == [-1, 0, 0, -1, -1, 1, 1, -1, -1, -1, 2, 2]
    with pytest.raises(ValueError, match="ambiguous"):
        describe([left, ShapeObject("blue", "square", 30, 28, 5)])


def test_generated_captions_describe_their_scenes():
    s = generate_shapes("test", 60, seed=1)
    counts = {1: 0, 2: 0, 3: 0}
    for scene in s.scenes:
        objs = scene.objects
        counts[len(objs)] += 1
        assert [o.cx for o in objs] == sorted(o.cx for o in objs)
        assert all(b.cx - a.cx >= MIN_DX_PX for a, b in itertools.pairwise(objs))
        assert describe(objs) == (scene.tokens, scene.token_objects)
        assert set(scene.tokens) <= set(WORDS)
        for word, k in zip(scene.tokens, scene.token_objects):
            if k >= 0:
                assert word in (objs[k].colour, objs[k].shape)
        # the object's pixels carry its colour (within the jitter), its box corners are background
        for o in objs:
            rgb = scene.image[object_mask(o, 56)].astype(float) / 255
            assert np.abs(rgb.mean(0) - np.asarray(COLOURS[o.colour])).max() < 0.09
        assert scene.image[0, 0].max() <= round(0.12 * 255)
    assert all(n > 5 for n in counts.values())  # one, two and three objects all occur


def test_shape_areas_and_cell_coverage():
    # r = 8: circle pi r^2, square (1.7 r)^2, triangle of base 2r and height 2r
    for shape, area in [
        ("circle", math.pi * 64),
        ("square", (2 * 0.85 * 8) ** 2),
        ("triangle", 2 * 64),
    ]:
        m = object_mask(ShapeObject("red", shape, 28, 28, 8), 56)
        assert m.sum() == pytest.approx(area, rel=0.12)
    # a square covering exactly cell (row 1, col 2) of a 7x7 grid (8-pixel cells)
    mask = np.zeros((56, 56), bool)
    mask[8:16, 16:24] = True
    cover = cell_coverage(mask, (7, 7))
    expected = np.zeros(49)
    expected[1 * 7 + 2] = 1.0
    np.testing.assert_allclose(cover, expected)
    # a grid that does not divide the image: coverage times cell area still counts every pixel
    grid = (5, 3)
    rows, cols = np.arange(56) * 5 // 56, np.arange(56) * 3 // 56
    area = np.bincount((rows[:, None] * 3 + cols[None, :]).ravel(), minlength=15)
    assert (cell_coverage(mask, grid) * area).sum() == pytest.approx(mask.sum())


def test_object_cells_are_the_covered_cells():
    o = ShapeObject("red", "square", 12.0, 12.0, 4.0 / 0.85)  # pixels 8..15 both ways: one cell
    cells = object_cells(o, 56, (7, 7))
    assert np.flatnonzero(cells).tolist() == [1 * 7 + 1]
    big = ShapeObject("red", "circle", 16.0, 16.0, 7.5)  # centred on a cell corner: four cells
    assert sorted(np.flatnonzero(object_cells(big, 56, (7, 7)))) == [8, 9, 15, 16]
    tiny = ShapeObject("red", "cross", 20.0, 20.0, 1.0)
    assert object_cells(tiny, 56, (7, 7)).sum() == 1  # at least the best-covered cell


def test_matching_objects():
    objs = [ShapeObject("red", "circle", 10, 10, 5), ShapeObject("red", "square", 30, 10, 5)]
    assert matching_objects("red", objs) == [0, 1]
    assert matching_objects("square", objs) == [1]
    assert matching_objects("blue", objs) == []
    assert matching_objects("above", objs) == []


def test_bad_arguments():
    with pytest.raises(DataError, match="no split 'val'"):
        generate_shapes("val", 3)
    with pytest.raises(DataError, match="at least one scene"):
        generate_shapes("train", 0)
    with pytest.raises(DataError, match="min_objects"):
        generate_shapes("train", 2, min_objects=2, max_objects=1)
    with pytest.raises(ValueError, match="image_size"):
        make_scene(0, size=16)
    with pytest.raises(ValueError, match="unknown shape"):
        object_mask(ShapeObject("red", "star", 5, 5, 3), 16)
    assert len(SHAPES) == 4 and len(COLOURS) == 6
