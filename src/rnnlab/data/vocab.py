"""Vocabularies: symbols (characters or words) <-> integer ids, saved as JSON with a model.

Ids: the special tokens come first, in the order given (so ``<pad>`` can be id 0), then the
symbols of the training data sorted by code point. The order never depends on counts or on hash
seeds, so the same data always gives the same ids.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

UNK, EOS, PAD, START, END = "<unk>", "<eos>", "<pad>", "<start>", "<end>"

_FORMAT = "rnnlab.vocab"
_VERSION = 1


class Vocab:
    """A fixed mapping between symbols and ids ``0 .. len(vocab) - 1``.

    Args:
        symbols: the symbols in id order (specials included, usually first).
        unk: the token that unknown symbols map to when it is in ``symbols``; None never maps
            (``encode`` then raises on unknown symbols).
        sep: joins decoded symbols: ``""`` for characters, ``" "`` for words.
        specials: which of ``symbols`` are special tokens (kept by JSON round trips).

    Example:
        >>> v = Vocab.build("hello")
        >>> v.itos, v.encode("hole"), v.decode([1, 0, 2, 2, 3])
        (['e', 'h', 'l', 'o'], [1, 3, 2, 0], 'hello')
    """

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        unk: str | None = UNK,
        sep: str = "",
        specials: Sequence[str] = (),
    ):
        self.itos: list[str] = list(symbols)
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            dup = sorted(s for s, n in Counter(self.itos).items() if n > 1)
            raise ValueError(f"duplicate symbols in a vocabulary: {dup[:10]}")
        self.unk = unk
        self.sep = sep
        self.specials: tuple[str, ...] = tuple(specials)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        symbols: Iterable[str],
        *,
        specials: Sequence[str] = (),
        min_freq: int = 1,
        max_size: int | None = None,
        unk: str | None = UNK,
        sep: str | None = None,
    ) -> Vocab:
        """Build a vocabulary from training symbols.

        Args:
            symbols: the training stream: a ``str`` (characters) or any iterable of tokens. For
                sentences, chain them: ``(tok for sent in sents for tok in sent)``.
            specials: tokens placed first, in this order, e.g. ``[PAD, UNK, START, END]``.
            min_freq: drop symbols seen fewer times.
            max_size: keep at most this many entries in all (specials included), preferring the
                most frequent symbols (ties: code-point order).
            unk: the unknown token; dropped and unseen symbols map to it when it is in the
                vocabulary (put it in ``specials``, or in the data as PTB does).
            sep: see :class:`Vocab`; None picks ``""`` if every symbol is one character,
                else ``" "``.

        Returns:
            The vocabulary: specials, then the kept symbols sorted by code point.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, not {min_freq}")
        counts = Counter(symbols)
        specials = list(dict.fromkeys(specials))
        kept = sorted(s for s, n in counts.items() if n >= min_freq and s not in specials)
        if max_size is not None:
            room = max_size - len(specials)
            if room < 0:
                raise ValueError(f"max_size {max_size} < {len(specials)} special tokens")
            kept = sorted(sorted(kept, key=lambda s: (-counts[s], s))[:room])
        if sep is None:
            sep = "" if all(len(s) == 1 for s in kept) else " "
        return cls(specials + kept, unk=unk, sep=sep, specials=specials)

    # ------------------------------------------------------------------ mapping
    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        head = ", ".join(repr(s) for s in self.itos[:8])
        more = ", ..." if len(self) > 8 else ""
        return f"Vocab({len(self)} symbols: {head}{more})"

    def index(self, symbol: str) -> int:
        """The id of ``symbol`` (``KeyError`` if absent, ``<unk>`` not applied)."""
        return self.stoi[symbol]

    @property
    def unk_id(self) -> int | None:
        """The id unknown symbols map to, or None when the vocabulary has no unknown token."""
        return self.stoi.get(self.unk) if self.unk is not None else None

    def encode(self, symbols: Iterable[str], strict: bool = False) -> list[int]:
        """Ids of ``symbols`` (a ``str`` is read as its characters).

        Args:
            symbols: the sequence to encode.
            strict: raise on unknown symbols even when the vocabulary has an unknown token
                (e.g. to refuse a generation prime the model has never seen).

        Raises:
            ValueError: unknown symbols and no unknown token (or ``strict``); the message lists
                them.
        """
        symbols = list(symbols)
        stoi = self.stoi
        try:
            return [stoi[s] for s in symbols]
        except KeyError:
            pass  # the slow path below, only when something is unknown
        unk_id = None if strict else self.unk_id
        if unk_id is None:
            unknown = sorted({s for s in symbols if s not in stoi})
            shown = ", ".join(repr(s) for s in unknown[:20])
            more = f" (and {len(unknown) - 20} more)" if len(unknown) > 20 else ""
            raise ValueError(
                f"{len(unknown)} symbol(s) not in the vocabulary of {len(self)}: {shown}{more}"
            )
        return [stoi.get(s, unk_id) for s in symbols]

    def decode(self, ids: Iterable[int], as_list: bool = False) -> str | list[str]:
        """Symbols of ``ids``, joined with :attr:`sep` (or as a list when ``as_list``).

        Raises:
            ValueError: an id outside ``0 .. len(self) - 1``.
        """
        itos, n = self.itos, len(self.itos)
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise ValueError(f"id {i} is outside the vocabulary (0 .. {n - 1})")
            out.append(itos[i])
        return out if as_list else self.sep.join(out)

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict:
        """A JSON-able dict (``json.dumps`` it, or store it inside a checkpoint's JSON)."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "symbols": list(self.itos),
            "specials": list(self.specials),
            "unk": self.unk,
            "sep": self.sep,
        }

    @classmethod
    def from_json(cls, data: dict | str) -> Vocab:
        """The vocabulary from :meth:`to_json`'s dict, or that dict as JSON text.

        Raises:
            ValueError: not a vocabulary written by :meth:`to_json`.
        """
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(
                "not an rnnlab vocabulary (expected a dict with format 'rnnlab.vocab')"
            )
        if data.get("version") != _VERSION:
            raise ValueError(f"unsupported vocabulary version {data.get('version')!r}")
        symbols = data["symbols"]
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise ValueError("vocabulary 'symbols' must be a list of strings")
        return cls(symbols, unk=data["unk"], sep=data["sep"], specials=data["specials"])

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as a JSON file."""
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False) + "\n", "utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocabulary written by :meth:`save`."""
        return cls.from_json(Path(path).read_text("utf-8"))
