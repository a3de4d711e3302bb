"""The README's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # our own README
    out, ref = namespace["out"], namespace["out_ref"]
    assert (out - ref).abs().max() < 1e-4  # fused and reference engines agree (float32)
    assert namespace["lstm"].resolved_engine() == "reference"


def test_documented_files_exist():
    for link in re.findall(r"\]\((docs/[^)]+)\)", README.read_text()):
        assert (README.parent / link).exists(), link
