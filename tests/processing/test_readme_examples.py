"""The README's Python examples, executed as written (outputs redirected to a temp folder)."""

import os
import re

import pytest

from paths import ROOT

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def _dedent(block: str) -> str:
    lines = block.splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(provider, tmp_path, index, monkeypatch):
    pytest.importorskip("segmentation_models_pytorch")
    code = _dedent(BLOCKS[index]).replace('"/tmp/', f'"{tmp_path}/')
    monkeypatch.chdir(ROOT)
    exec(compile(code, f"README.md python block {index}", "exec"), {})
    assert os.listdir(tmp_path), "the example wrote nothing"


def test_there_are_examples_to_run():
    assert len(BLOCKS) >= 3
