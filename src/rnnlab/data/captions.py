"""Real captioning data in the standard layout: an image folder plus a Karpathy-split JSON.

Dimension letters: N images, P pixels per side after resizing.

Flickr8k, Flickr30k and COCO are distributed for captioning research with Karpathy's split file
(``dataset_flickr8k.json``, ``dataset_flickr30k.json``, ``dataset_coco.json``)::

    {"dataset": "flickr8k",
     "images": [{"filename": "1000268201_693b08cb0e.jpg",
                 "filepath": "val2014",             (COCO only: a subfolder of the image folder)
                 "split": "train",                  (train, val, test or restval)
                 "imgid": 0,
                 "sentences": [{"tokens": ["a", "child", ...], "raw": "A child ...", ...}, ...]},
                ...]}

An image's file is ``IMAGE_DIR/filepath/filename``. ``restval`` (COCO's images outside the 5,000
validation and 5,000 test images) counts as training data, as in Karpathy's and most later work.
Captions are the ``tokens`` of each sentence (lower case, no punctuation), or :func:`tokenize` of
``raw`` where a file has no tokens.

This module reads the layout; it neither downloads nor ships any of those sets (their licences
differ: get them from their publishers). :func:`save_as_karpathy` writes a set in the same layout
(PNG images), which the tests use to check the loader on images of known content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlab.data.errors import DataError
from rnnlab.data.multi30k import tokenize

#: our split name -> the Karpathy split names it takes
KARPATHY_SPLITS = {
    "train": ("train", "restval"),
    "valid": ("val",),
    "val": ("val",),
    "test": ("test",),
}


@dataclass
class CaptionImage:
    """One image of a captioning set.

    Attributes:
        path: the image file.
        captions: its reference captions, each a list of lower-case tokens.
        split: the Karpathy split it came from (train, restval, val, test).
    """

    path: Path
    captions: list[list[str]]
    split: str


def load_karpathy(
    json_path: str | Path, image_dir: str | Path, split: str, check_files: bool = True
) -> list[CaptionImage]:
    """The images of one split, in file order.

    Args:
        json_path: the Karpathy split file.
        image_dir: the folder the images are in (``filepath`` entries are subfolders of it).
        split: ``"train"`` (train + restval), ``"valid"`` (alias ``"val"``) or ``"test"``.
        check_files: fail at once if an image file is missing (else only when it is read).

    Raises:
        DataError: a missing or malformed file, an unknown split, a split with no images, or a
            missing image (the message names the first few).
    """
    if split not in KARPATHY_SPLITS:
        raise DataError(f"no split {split!r}; the splits are train, valid (val) and test")
    json_path, image_dir = Path(json_path), Path(image_dir)
    if not json_path.is_file():
        raise DataError(
            f"caption file not found: {json_path} (the Karpathy split file: set data.json)"
        )
    if not image_dir.is_dir():
        raise DataError(f"image folder not found: {image_dir} (set data.images)")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{json_path}: not a JSON file ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(
            f"{json_path}: expected Karpathy's layout, a JSON object with an 'images' list"
        )
    wanted = KARPATHY_SPLITS[split]
    out = []
    for n, entry in enumerate(data["images"]):
        try:
            if entry["split"] not in wanted:
                continue
            path = image_dir / entry.get("filepath", "") / entry["filename"]
            captions = [_tokens(s) for s in entry["sentences"]]
        except (KeyError, TypeError) as e:
            raise DataError(
                f"{json_path}: image entry {n} lacks {e} (each needs filename, split and "
                "sentences with tokens or raw)"
            ) from None
        captions = [c for c in captions if c]
        if captions:
            out.append(CaptionImage(path, captions, entry["split"]))
    if not out:
        raise DataError(f"{json_path}: the {split} split ({', '.join(wanted)}) has no images")
    if check_files:
        missing = [str(im.path) for im in out if not im.path.is_file()]
        if missing:
            raise DataError(
                f"{len(missing)} of {len(out)} {split} images are missing under {image_dir}, "
                f"e.g. {', '.join(missing[:3])}"
            )
    return out


def _tokens(sentence: dict) -> list[str]:
    if "tokens" in sentence:
        return [str(t).lower() for t in sentence["tokens"]]
    # Karpathy's tokens have no punctuation: keep the word tokens of our tokenizer only
    return [t for t in tokenize(sentence["raw"]) if any(ch.isalnum() for ch in t)]


def read_image(path: str | Path, size: int) -> np.ndarray:
    """An image file as ``(P, P, 3)`` uint8, resized to ``size x size`` (aspect not kept, as
    the fixed-size inputs of Show, attend and tell; bilinear with antialiasing).

    PNG is read by matplotlib itself; JPEG and other formats through Pillow, which matplotlib
    depends on. Grey images are repeated over three channels; an alpha channel is dropped.

    Raises:
        DataError: the file is missing or not an image.
    """
    import matplotlib.image as mpimg
    import torch
    import torch.nn.functional as F

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder: name an image file")
    if not path.is_file():
        raise DataError(f"image not found: {path}")
    try:
        img = np.asarray(mpimg.imread(path))
    except Exception as e:  # Pillow and matplotlib raise many kinds for a bad file
        raise DataError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    if img.dtype != np.uint8:  # matplotlib gives PNGs as floats in [0, 1]
        img = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise DataError(f"{path}: expected an RGB or grey image, got shape {img.shape}")
    img = img[:, :, :3]
    img = np.array(img, copy=True)  # writable: a JPEG decoder may hand back a read-only buffer
    if img.shape[:2] == (size, size):
        return img
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()  # (1, 3, h, w)
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write ``image: (h, w, 3)`` uint8 as a PNG (lossless) with matplotlib."""
    import matplotlib.image as mpimg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mpimg.imsave(path, np.ascontiguousarray(image), format="png")
    return path


def save_as_karpathy(
    out_dir: str | Path,
    splits: dict[str, tuple[np.ndarray, list[list[list[str]]]]],
    dataset: str = "rnnlab-shapes",
) -> Path:
    """Write images and captions in the Karpathy layout: ``out_dir/images/*.png`` and
    ``out_dir/dataset.json``.

    Args:
        out_dir: the folder to write.
        splits: Karpathy split name (train, restval, val, test) -> ``(images (N, P, P, 3)
            uint8, captions)`` with ``captions[i]`` the list of reference token lists of
            image i.
        dataset: the ``dataset`` field.

    Returns:
        The JSON file's path.
    """
    out_dir = Path(out_dir)
    entries, imgid, sentid = [], 0, 0
    for split, (images, captions) in splits.items():
        if len(images) != len(captions):
            raise ValueError(f"{split}: {len(images)} images but {len(captions)} caption lists")
        for img, refs in zip(images, captions):
            name = f"{split}_{imgid:06d}.png"
            write_png(out_dir / "images" / name, img)
            sentences = []
            for tokens in refs:
                sentences.append(
                    {
                        "tokens": list(tokens),
                        "raw": " ".join(tokens),
                        "imgid": imgid,
                        "sentid": sentid,
                    }
                )
                sentid += 1
            entries.append(
                {
                    "filename": name,
                    "imgid": imgid,
                    "split": split,
                    "sentences": sentences,
                    "sentids": [s["sentid"] for s in sentences],
                }
            )
            imgid += 1
    path = out_dir / "dataset.json"
    path.write_text(json.dumps({"dataset": dataset, "images": entries}) + "\n", encoding="utf-8")
    return path
