"""A synthetic captioning set: coloured shapes on a dark background, captions read off the scene.

Dimension letters: N images, P pixels per side (``image_size``), G grid cells per side, L = G*G
grid cells, K objects in a scene (1..3), T caption length.

Every scene is made from its own seed, ``(seed, split, index)``, so scene 17 of the test split is
the same whatever the number of scenes asked for, on every machine, and the three splits never
share a seed. A scene holds one to three objects, each a colour (``red green blue yellow magenta
cyan``) and a shape (``circle square triangle cross``) of half-size 5 to 8 pixels, with a little
colour jitter and background noise. (Pixel lengths here are for the default 56-pixel image; other
sizes scale them all, so the scenes look the same at any size.)

The caption names the objects **from left to right**; between two neighbours the phrase says where
the right one is relative to the left one::

    a red circle                                       one object
    a red circle left of a blue square                 level (|dy| <= 5 px)
    a red circle above a blue square                   the square is lower (dy >= 11 px)
    a red circle below a blue square above a green cross
                                                       the square is higher, the cross lower

Scenes whose relations would be ambiguous (neighbours closer than 8 px horizontally, or a vertical
offset between the two thresholds) are redrawn, so the caption is a function of the image that a
model can learn exactly.

Each caption word that names an object (its colour and its shape word) records which object it
names, and :func:`object_cells` gives each object's grid cells at any grid size: the share of
attention a captioner puts on the named object's cells when it emits the word can be measured
exactly (:func:`rnnlab.tasks.caption.localisation`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from rnnlab.data.errors import DataError

#: colour word -> RGB in [0, 1]
COLOURS = {
    "red": (0.90, 0.12, 0.10),
    "green": (0.15, 0.80, 0.15),
    "blue": (0.15, 0.35, 1.00),
    "yellow": (0.95, 0.90, 0.10),
    "magenta": (0.90, 0.15, 0.90),
    "cyan": (0.10, 0.85, 0.90),
}
SHAPES = ("circle", "square", "triangle", "cross")
RELATIONS = ("left of", "above", "below")
#: the words every caption is made of (sorted, no special tokens)
WORDS = tuple(sorted({"a", *COLOURS, *SHAPES, *(w for r in RELATIONS for w in r.split())}))

#: split -> the second number of every scene seed, so splits never share scenes
SPLIT_IDS = {"train": 0, "valid": 1, "test": 2}

LEVEL_PX = 5  # |dy| at most this: "left of"
OFFSET_PX = 11  # |dy| at least this: "above" / "below"; in between is redrawn
MIN_DX_PX = 8  # neighbours in the left-to-right order are at least this far apart
GAP_PX = 3  # free pixels between two objects' bounding boxes
MIN_COVER = 0.1  # a grid cell belongs to an object when the object covers this share of it


@dataclass(frozen=True)
class ShapeObject:
    """One object: colour and shape words, centre ``(cx, cy)`` in pixels, half-size ``r``."""

    colour: str
    shape: str
    cx: float
    cy: float
    r: float


@dataclass
class Scene:
    """One image and its caption.

    Attributes:
        image: ``(P, P, 3)`` uint8.
        objects: the objects in caption order (left to right).
        tokens: the caption words (no ``<start>``/``<end>``), length T.
        token_objects: per word, the index in ``objects`` of the object it names, or -1.
    """

    image: np.ndarray
    objects: list[ShapeObject]
    tokens: list[str]
    token_objects: list[int] = field(default_factory=list)

    @property
    def caption(self) -> str:
        return " ".join(self.tokens)


# ---------------------------------------------------------------------- geometry
def object_mask(obj: ShapeObject, size: int) -> np.ndarray:
    """The pixels of ``obj`` in a ``size x size`` image: ``(P, P)`` bool (pixel centres)."""
    y, x = np.mgrid[0:size, 0:size] + 0.5
    dx, dy = x - obj.cx, y - obj.cy
    r = obj.r
    if obj.shape == "circle":
        return dx * dx + dy * dy <= r * r
    if obj.shape == "square":
        s = 0.85 * r  # the same area as the circle, roughly
        return (np.abs(dx) <= s) & (np.abs(dy) <= s)
    if obj.shape == "triangle":  # apex up, base at cy + r
        t = (dy + r) / (2 * r)  # 0 at the apex, 1 at the base
        return (t >= 0) & (t <= 1) & (np.abs(dx) <= t * r)
    if obj.shape == "cross":
        w = 0.35 * r
        arm = (np.abs(dx) <= r) & (np.abs(dy) <= r)
        return arm & ((np.abs(dx) <= w) | (np.abs(dy) <= w))
    raise ValueError(f"unknown shape {obj.shape!r}; shapes: {', '.join(SHAPES)}")


def cell_coverage(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Share of every grid cell that ``mask: (P, P)`` covers: ``(L,)`` float, row-major cells.

    Pixel ``(y, x)`` falls in cell ``(y * Gh // P, x * Gw // P)``, so any grid works, also one
    that does not divide the image."""
    P_h, P_w = mask.shape
    gh, gw = grid
    rows = np.arange(P_h) * gh // P_h
    cols = np.arange(P_w) * gw // P_w
    cell = (rows[:, None] * gw + cols[None, :]).ravel()  # (P*P,) cell index of every pixel
    covered = np.bincount(cell, weights=mask.ravel().astype(np.float64), minlength=gh * gw)
    area = np.bincount(cell, minlength=gh * gw)
    return covered / area


def object_cells(obj: ShapeObject, size: int, grid: tuple[int, int]) -> np.ndarray:
    """The grid cells of ``obj``: ``(L,)`` bool, cells it covers by at least ``MIN_COVER``
    (and always its best-covered cell)."""
    cover = cell_coverage(object_mask(obj, size), grid)
    cells = cover >= MIN_COVER
    cells[int(np.argmax(cover))] = True
    return cells


# ---------------------------------------------------------------------- captions
def relation(left: ShapeObject, right: ShapeObject, scale: float = 1.0) -> str | None:
    """Where ``right`` is relative to ``left`` (``left`` is further left), as the caption says
    it: "left of" (level), "above" (``right`` is lower), "below" (higher); None if ambiguous.
    ``scale``: image size / 56 (the thresholds are in pixels of a 56-pixel image)."""
    dy = (right.cy - left.cy) / scale  # image rows grow downwards
    if abs(dy) <= LEVEL_PX:
        return "left of"
    if dy >= OFFSET_PX:
        return "above"
    if dy <= -OFFSET_PX:
        return "below"
    return None


def describe(objects: list[ShapeObject], scale: float = 1.0) -> tuple[list[str], list[int]]:
    """The caption of objects already in left-to-right order: ``(tokens, token_objects)``."""
    tokens, owners = [], []
    for k, obj in enumerate(objects):
        if k:
            rel = relation(objects[k - 1], obj, scale)
            if rel is None:
                raise ValueError("ambiguous relation between neighbours")
            words = rel.split()
            tokens += words
            owners += [-1] * len(words)
        tokens += ["a", obj.colour, obj.shape]
        owners += [-1, k, k]
    return tokens, owners


# ---------------------------------------------------------------------- scenes
def _place(rng: np.random.Generator, n: int, size: int) -> list[ShapeObject] | None:
    s = size / 56  # every length is given for a 56-pixel image and scaled
    objs: list[ShapeObject] = []
    for _ in range(n):
        r = float(rng.uniform(5.0, 8.0)) * s
        cx, cy = (float(v) for v in rng.uniform(r + s, size - r - s, size=2))
        new = ShapeObject(str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)), cx, cy, r)
        for o in objs:
            apart = max(abs(o.cx - cx), abs(o.cy - cy)) - (o.r + r)
            if apart < GAP_PX * s:
                return None
        objs.append(new)
    objs.sort(key=lambda o: o.cx)
    for a, b in itertools.pairwise(objs):
        if b.cx - a.cx < MIN_DX_PX * s or relation(a, b, s) is None:
            return None
    return objs


def render(objects: list[ShapeObject], size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``objects`` on a noisy dark background: ``(P, P, 3)`` uint8."""
    img = rng.uniform(0.0, 0.12, size=(size, size, 3))
    for obj in objects:
        rgb = np.clip(np.asarray(COLOURS[obj.colour]) + rng.uniform(-0.08, 0.08, 3), 0, 1)
        img[object_mask(obj, size)] = rgb
    return np.round(img * 255).astype(np.uint8)


def make_scene(
    seed: int | list[int], size: int = 56, min_objects: int = 1, max_objects: int = 3
) -> Scene:
    """One scene from ``seed`` (an int or a list of ints, as ``np.random.default_rng`` takes).

    Raises:
        ValueError: a bad size or object count.
    """
    if not 1 <= min_objects <= max_objects <= 3:
        raise ValueError(
            f"need 1 <= min_objects <= max_objects <= 3, got {min_objects}, {max_objects}"
        )
    if size < 32:
        raise ValueError(f"image_size must be >= 32 pixels, got {size}")
    rng = np.random.default_rng(seed)
    n = int(rng.integers(min_objects, max_objects + 1))
    for _ in range(10_000):  # redraw until the scene is unambiguous (a few tries on average)
        if (objs := _place(rng, n, size)) is not None:
            break
    else:  # pragma: no cover - about 1 in 5 draws of three objects succeeds
        raise ValueError(f"could not place {n} objects in {size} pixels")
    tokens, owners = describe(objs, size / 56)
    return Scene(render(objs, size, rng), objs, tokens, owners)


@dataclass
class ShapesSet:
    """A split of the synthetic set.

    Attributes:
        images: ``(N, P, P, 3)`` uint8.
        scenes: the N scenes (their ``image`` is the same array's row).
    """

    images: np.ndarray
    scenes: list[Scene]

    def __len__(self) -> int:
        return len(self.scenes)

    @property
    def captions(self) -> list[list[str]]:
        return [s.tokens for s in self.scenes]

    def cells(self, grid: tuple[int, int]) -> list[np.ndarray]:
        """Per scene, ``(K, L)`` bool: the grid cells of each of its objects."""
        P = self.images.shape[1]
        return [np.stack([object_cells(o, P, grid) for o in s.objects]) for s in self.scenes]


def generate_shapes(
    split: str,
    n: int,
    seed: int = 0,
    image_size: int = 56,
    min_objects: int = 1,
    max_objects: int = 3,
) -> ShapesSet:
    """``n`` scenes of ``split``: scene ``i`` is ``make_scene([seed, SPLIT_IDS[split], i])``.

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        n: number of scenes.
        seed: the data seed; another seed gives a held-out set of the same distribution.
        image_size: P.
        min_objects, max_objects: objects per scene, drawn uniformly in this range (1..3).

    Raises:
        DataError: a bad split, count, size or object range.
    """
    if split not in SPLIT_IDS:
        raise DataError(f"the shapes set has no split {split!r}; its splits: train, valid, test")
    if n < 1:
        raise DataError(f"the shapes {split} split needs at least one scene, got {n}")
    try:
        scenes = [
            make_scene([seed, SPLIT_IDS[split], i], image_size, min_objects, max_objects)
            for i in range(n)
        ]
    except ValueError as e:
        raise DataError(f"shapes: {e}") from None
    images = np.stack([s.image for s in scenes])
    for s, img in zip(scenes, images):
        s.image = img  # one array, no copies
    return ShapesSet(images, scenes)


def matching_objects(word: str, objects: list[ShapeObject]) -> list[int]:
    """Indices of the objects a colour or shape ``word`` could name ([] for other words)."""
    if word in COLOURS:
        return [k for k, o in enumerate(objects) if o.colour == word]
    if word in SHAPES:
        return [k for k, o in enumerate(objects) if o.shape == word]
    return []
