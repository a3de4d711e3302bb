"""Datasets: a registry of pinned, checksummed files, a local cache, loaders and vocabularies.

``rnnlab data list | fetch NAME | verify`` manage the cache (``$RNNLAB_DATA``, default
``~/.cache/rnnlab``). Loaders return plain Python and NumPy; only the language-model batching
helpers (:mod:`rnnlab.data.lm`) use torch, and are imported on first use so that
``import rnnlab.data`` does not import torch.
"""

from __future__ import annotations

from rnnlab.data.cache import FileStatus, require, require_file, verify
from rnnlab.data.digits import load_digits
from rnnlab.data.download import FetchResult, fetch
from rnnlab.data.errors import DataError, DataMissingError
from rnnlab.data.multi30k import detokenize, load_multi30k, tokenize
from rnnlab.data.music import load_music, pad_batch
from rnnlab.data.registry import (
    DATASETS,
    Dataset,
    FileSpec,
    data_root,
    get_dataset,
    list_datasets,
)
from rnnlab.data.sst2 import load_sst2
from rnnlab.data.text import load_embedded, load_file, load_text
from rnnlab.data.vocab import Vocab

_TORCH_EXPORTS = {"batchify", "get_batch", "BPTTBatches"}


def __getattr__(name):
    if name in _TORCH_EXPORTS:
        from rnnlab.data import lm

        return getattr(lm, name)
    raise AttributeError(f"module 'rnnlab.data' has no attribute {name!r}")


__all__ = [
    "DATASETS",
    "BPTTBatches",
    "DataError",
    "DataMissingError",
    "Dataset",
    "FetchResult",
    "FileSpec",
    "FileStatus",
    "Vocab",
    "batchify",
    "data_root",
    "detokenize",
    "fetch",
    "get_batch",
    "get_dataset",
    "list_datasets",
    "load_digits",
    "load_embedded",
    "load_file",
    "load_multi30k",
    "load_music",
    "load_sst2",
    "load_text",
    "pad_batch",
    "require",
    "require_file",
    "tokenize",
    "verify",
]
