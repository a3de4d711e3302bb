"""The Karpathy-split loader, on tiny fixtures the tests write (PNG images of known content)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab.data.captions import load_karpathy, read_image, save_as_karpathy, write_png
from rnnlab.data.errors import DataError


def _image(value: int, size: int = 40) -> np.ndarray:
    img = np.zeros((size, size, 3), np.uint8)
    img[..., 0] = value
    img[: size // 2, :, 1] = 255 - value  # a top half and a bottom half: resizing keeps them
    return img


@pytest.fixture
def karpathy(tmp_path):
    splits = {
        "train": (
            np.stack([_image(10), _image(20)]),
            [[["a", "dog"], ["one", "dog"]], [["a", "cat"]]],
        ),
        "restval": (np.stack([_image(30)]), [[["a", "bird"]]]),
        "val": (np.stack([_image(40)]), [[["a", "cow"], ["the", "cow"], ["cow"]]]),
        "test": (np.stack([_image(50)]), [[["a", "fish"]]]),
    }
    path = save_as_karpathy(tmp_path / "set", splits)
    return path, tmp_path / "set" / "images", splits


def test_splits_captions_and_pixels_round_trip(karpathy):
    path, images, splits = karpathy
    train = load_karpathy(path, images, "train")
    assert [im.split for im in train] == ["train", "train", "restval"]  # restval is training data
    assert [im.captions for im in train] == [
        [["a", "dog"], ["one", "dog"]],
        [["a", "cat"]],
        [["a", "bird"]],
    ]
    val = load_karpathy(path, images, "valid")
    assert val[0].captions == [["a", "cow"], ["the", "cow"], ["cow"]]
    assert [im.captions for im in load_karpathy(path, images, "val")] == [im.captions for im in val]
    test = load_karpathy(path, images, "test")
    assert np.array_equal(read_image(test[0].path, 40), splits["test"][0][0])  # PNG is lossless
    data = json.loads(path.read_text())
    assert data["dataset"] == "rnnlab-shapes"
    assert [e["imgid"] for e in data["images"]] == [0, 1, 2, 3, 4]
    assert data["images"][0]["sentids"] == [0, 1]


def test_resizing_keeps_the_content(karpathy):
    path, images, _ = karpathy
    img = read_image(load_karpathy(path, images, "test")[0].path, 20)
    assert img.shape == (20, 20, 3) and img.dtype == np.uint8
    assert (img[..., 0] == 50).all()
    assert (img[:9, :, 1] == 205).all() and (img[11:, :, 1] == 0).all()  # halves kept apart


def test_coco_filepath_raw_sentences_and_grey_images(tmp_path):
    grey = np.full((8, 8), 0.5, np.float32)
    import matplotlib.image as mpimg

    (tmp_path / "val2014").mkdir()
    mpimg.imsave(tmp_path / "val2014" / "g.png", grey, cmap="gray", vmin=0, vmax=1)
    rgba = np.dstack([_image(7, 8), np.full((8, 8), 255, np.uint8)])
    mpimg.imsave(tmp_path / "val2014" / "c.png", rgba)
    entries = [
        {
            "filepath": "val2014",
            "filename": "g.png",
            "split": "test",
            "sentences": [{"raw": "A man's T-shirt, (red)."}],
        },
        {
            "filepath": "val2014",
            "filename": "c.png",
            "split": "test",
            "sentences": [{"tokens": ["A", "Cat"]}, {"tokens": []}],
        },
    ]
    js = tmp_path / "dataset_coco.json"
    js.write_text(json.dumps({"images": entries}))
    items = load_karpathy(js, tmp_path, "test")
    assert items[0].captions == [["a", "man's", "t-shirt", "red"]]  # no punctuation tokens
    assert items[1].captions == [["a", "cat"]]  # lower case; the empty sentence dropped
    g = read_image(items[0].path, 8)
    assert g.shape == (8, 8, 3) and len(np.unique(g)) == 1 and abs(int(g[0, 0, 0]) - 128) <= 1
    assert np.array_equal(read_image(items[1].path, 8), _image(7, 8))  # alpha dropped


def test_errors_name_the_problem(tmp_path, karpathy):
    path, images, _ = karpathy
    with pytest.raises(DataError, match="no split 'dev'"):
        load_karpathy(path, images, "dev")
    with pytest.raises(DataError, match="caption file not found"):
        load_karpathy(tmp_path / "none.json", images, "train")
    with pytest.raises(DataError, match="image folder not found"):
        load_karpathy(path, tmp_path / "nowhere", "train")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not a JSON file"):
        load_karpathy(bad, images, "train")
    bad.write_text(json.dumps([1, 2]))
    with pytest.raises(DataError, match="'images' list"):
        load_karpathy(bad, images, "train")
    bad.write_text(json.dumps({"images": [{"filename": "x.png", "split": "train"}]}))
    with pytest.raises(DataError, match="lacks 'sentences'"):
        load_karpathy(bad, images, "train")
    bad.write_text(
        json.dumps({"images": [{"filename": "x.png", "split": "train", "sentences": []}]})
    )
    with pytest.raises(DataError, match="has no images"):
        load_karpathy(bad, images, "test")
    (images / "train_000000.png").unlink()
    with pytest.raises(DataError, match="1 of 3 train images are missing"):
        load_karpathy(path, images, "train")
    assert len(load_karpathy(path, images, "train", check_files=False)) == 3
    with pytest.raises(DataError, match="image not found"):
        read_image(images / "train_000000.png", 8)
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="not a readable image"):
        read_image(tmp_path / "junk.png", 8)
    with pytest.raises(ValueError, match="2 images but 1 caption lists"):
        save_as_karpathy(tmp_path / "x", {"train": (np.stack([_image(1), _image(2)]), [[["a"]]])})


def test_write_png_round_trip(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    p = write_png(tmp_path / "sub" / "r.png", img)
    import matplotlib.image as mpimg

    back = np.round(mpimg.imread(p)[..., :3] * 255).astype(np.uint8)
    assert np.array_equal(back, img)
