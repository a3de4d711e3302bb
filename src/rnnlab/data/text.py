"""Text corpora for language modelling, as streams of symbols.

Character-level corpora come back as one ``str`` (each character is a symbol), word-level ones as
a ``list[str]`` of tokens. Splits are ``"train"``, ``"valid"`` and, where the corpus has one,
``"test"``.

- ``tinyshakespeare``: no official split; the first 90% of the characters are train, the last 10%
  valid (1,003,854 / 111,540 characters, as nanoGPT does).
- ``ptb-char``: the file writes every symbol followed by a space, a word boundary as ``_`` and the
  line break as a symbol of its own. Each line becomes ``"".join(line.split()) + "\\n"``: its
  symbols, ``_`` kept as the word boundary, and one ``"\\n"`` as the end-of-line symbol. Every
  symbol is a single character (``<unk>`` is spelled out), so the stream is a ``str``: 5,017,482 /
  393,042 / 442,423 symbols, 50 distinct.
- ``ptb-word``: each line gives ``line.split() + ["<eos>"]`` (929,589 / 73,760 / 82,430 tokens,
  10,000 types; ``<unk>`` is an ordinary token of the corpus).
- ``embedded``: docstrings of a fixed list of standard-library modules, needing no download; see
  :func:`load_embedded`.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import sys
import warnings

from rnnlab.data.cache import require_file
from rnnlab.data.errors import DataError
from rnnlab.data.files import read_text, split_lines

#: corpus -> its splits
TEXT_SPLITS = {
    "tinyshakespeare": ("train", "valid"),
    "ptb-char": ("train", "valid", "test"),
    "ptb-word": ("train", "valid", "test"),
}

#: the fraction of a split-less corpus that goes to train
TRAIN_FRACTION = 0.9

EOL = "\n"  # end-of-line symbol of ptb-char
EOS = "<eos>"  # end-of-sentence token of word-level corpora


def load_text(name: str, split: str) -> str | list[str]:
    """The symbol stream of one split of a registered text corpus.

    Args:
        name: ``"tinyshakespeare"``, ``"ptb-char"`` or ``"ptb-word"``.
        split: ``"train"``, ``"valid"``, or ``"test"`` (PTB only).

    Returns:
        A ``str`` for the character-level corpora, a ``list[str]`` of tokens for ``ptb-word``.

    Raises:
        DataError: unknown corpus or split, or the file is missing, corrupt or not UTF-8
            (:class:`DataMissingError` names the fetch command).
    """
    if name not in TEXT_SPLITS:
        raise DataError(
            f"unknown text corpus {name!r}; valid names: {', '.join(TEXT_SPLITS)} "
            f"(and load_embedded() for the built-in corpus)"
        )
    _check_split(split, TEXT_SPLITS[name], name)
    if name == "tinyshakespeare":
        text = read_text(require_file(name, "input.txt"))
        return split_fraction(text, split)
    if name == "ptb-char":
        lines = split_lines(read_text(require_file(name, f"ptb.char.{split}.txt")))
        return "".join("".join(line.split()) + EOL for line in lines)
    lines = split_lines(read_text(require_file(name, f"ptb.{split}.txt.gz")))
    return [tok for line in lines for tok in (*line.split(), EOS)]


def load_file(path: str, split: str, level: str = "char") -> str | list[str]:
    """One split of your own UTF-8 text file, cut 90% train / 10% valid.

    Args:
        path: a UTF-8 text file (``.gz`` is decompressed).
        split: ``"train"`` (the first 90%) or ``"valid"`` (the last 10%).
        level: ``"char"``: the text as a ``str``, split by characters; ``"word"``: tokens
            ``line.split() + ["<eos>"]`` per line, split by tokens.

    Raises:
        DataError: missing, unreadable or non-UTF-8 file, or a bad ``split`` / ``level``.
    """
    _check_split(split, ("train", "valid"), path)
    if level not in ("char", "word"):
        raise DataError(f"level must be 'char' or 'word', not {level!r}")
    text = read_text(path)
    if level == "char":
        return split_fraction(text, split)
    tokens = [tok for line in split_lines(text) for tok in (*line.split(), EOS)]
    return split_fraction(tokens, split)


def split_fraction(seq, split: str):
    """The first ``TRAIN_FRACTION`` of ``seq`` for ``"train"``, the rest for ``"valid"``."""
    n = int(len(seq) * TRAIN_FRACTION)
    return seq[:n] if split == "train" else seq[n:]


def _check_split(split: str, valid: tuple[str, ...], what: str) -> None:
    if split not in valid:
        raise DataError(f"{what} has no split {split!r}; its splits: {', '.join(valid)}")


# ---------------------------------------------------------------------------------------- embedded
#: standard-library modules whose docstrings make the embedded corpus (pure Python or with fixed
#: C docstrings, and no platform-dependent API, so the text depends on the Python version only)
EMBEDDED_MODULES = (
    "abc", "argparse", "ast", "base64", "calendar", "cmd", "codecs", "collections",
    "configparser", "contextlib", "csv", "dataclasses", "datetime", "decimal", "difflib",
    "doctest", "enum", "ftplib", "functools", "graphlib", "heapq", "ipaddress", "itertools",
    "json", "logging", "optparse", "pathlib", "queue", "random", "re", "sched", "smtplib",
    "statistics", "tarfile", "textwrap", "tokenize", "typing", "uuid", "weakref", "zipfile",
)  # fmt: skip


def load_embedded(split: str) -> str:
    """A ~400 KB English-and-code text corpus that needs no download.

    The text is the docstrings of :data:`EMBEDDED_MODULES` (sorted), each module's own docstring
    followed by those of its public classes and functions (sorted by name) and the public
    methods of each class. Whitespace is normalised modestly (tabs to spaces, trailing spaces
    dropped, at most one blank line in a row) and characters outside printable ASCII are
    dropped, so the vocabulary stays near 95 symbols. The same Python version gives the same
    text; it is built once per process (< 1 s).

    Args:
        split: ``"train"`` or ``"valid"``: every tenth docstring is held out for ``"valid"``, so
            both splits mix all the modules (a cut at 90% of the text would validate on the
            alphabetically last modules only, a different distribution).

    Raises:
        DataError: bad ``split``, or Python runs with ``-OO`` (which strips docstrings).
    """
    _check_split(split, ("train", "valid"), "the embedded corpus")
    parts = _embedded_parts()
    chosen = [p for i, p in enumerate(parts) if (i % 10 == 9) == (split == "valid")]
    return _normalise("\n\n".join(chosen))


def _embedded_text() -> str:
    """The whole embedded corpus (both splits), in module order."""
    return _normalise("\n\n".join(_embedded_parts()))


@functools.lru_cache(maxsize=1)
def _embedded_parts() -> tuple[str, ...]:
    if sys.flags.optimize >= 2:
        raise DataError("the embedded corpus is made of docstrings, which python -OO removes")
    parts = []
    # reading some attributes warns (e.g. the deprecated typing.io); -W error must not change
    # the text, so warnings are silenced while collecting
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in sorted(EMBEDDED_MODULES):
            parts.extend(_module_docs(importlib.import_module(name)))
    return tuple(parts)


def _module_docs(module) -> list[str]:
    docs = [module.__doc__]
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or not _defined_in(obj, module.__name__):
            continue
        docs.append(obj.__doc__)
        if inspect.isclass(obj):
            for attr, member in sorted(vars(obj).items()):
                if not attr.startswith("_"):
                    docs.append(_member_doc(member))
    return [inspect.cleandoc(d) for d in docs if isinstance(d, str) and d.strip()]


def _defined_in(obj, module_name: str) -> bool:
    # classes and functions of this module (or its sub-modules), not re-exported names
    if not (inspect.isclass(obj) or inspect.isroutine(obj)):
        return False
    owner = getattr(obj, "__module__", None) or ""
    return owner == module_name or owner.startswith(module_name + ".")


def _member_doc(member) -> str | None:
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    if inspect.isroutine(member) or isinstance(member, property):
        return member.__doc__
    return None


def _normalise(text: str) -> str:
    text = text.replace("\t", "    ")
    text = re.sub(r"[^\n\x20-\x7e]", "", text)  # printable ASCII and newlines only
    text = re.sub(r"[ ]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
