"""The damage cases issue 12 found through the CLI: one line on stderr, then `qabot index` repairs.

Each case runs the real `qabot` console script on a copy of the tiny index (built once with the
bundled model by conftest's `tiny_service`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval.index import current_version

QABOT = str(Path(sys.executable).parent / "qabot")
QUESTION = "威海市签订了多少份集体合同？"


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([QABOT, *args], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for k in range(len(data) // 2, len(data) // 2 + 4):
        data[k] ^= 0x55
    path.write_bytes(bytes(data))


CASES = {
    "empty bm25 array (EOFError)": lambda v, root: (v / "bm25" / "data.csc.index.npy").write_bytes(b""),
    "CURRENT not UTF-8": lambda v, root: (root / "CURRENT").write_bytes(b"\xff\xfe\xfd"),
    "manifest holding []": lambda v, root: (v / "manifest.json").write_text("[]", encoding="utf-8"),
    "flipped bytes in bm25 indptr": lambda v, root: _flip(v / "bm25" / "indptr.csc.index.npy"),
    "vocab = {}": lambda v, root: (v / "bm25" / "vocab.index.json").write_text("{}", encoding="utf-8"),
    "flipped bytes in the vectors": lambda v, root: _flip(v / "vectors.faiss"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_damage_is_one_line_then_repaired(tiny_service, tmp_path, case):
    index_dir = tmp_path / "index"
    shutil.copytree(tiny_service.settings.index_dir, index_dir)
    version = current_version(index_dir)
    CASES[case](version, index_dir)
    env = {
        **os.environ,
        "QABOT_CORPUS_DIR": str(tiny_service.settings.corpus_dir),
        "QABOT_INDEX_DIR": str(index_dir),
        "COLUMNS": "300",
    }
    env.pop("QABOT_LLM_BASE_URL", None)

    broken = _run(["ask", QUESTION, "--json"], tmp_path, env)
    assert broken.returncode == 1, broken.stderr
    lines = [line for line in broken.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "qabot index" in lines[0], broken.stderr
    assert "Traceback" not in broken.stderr and not broken.stdout

    repair = _run(["index"], tmp_path, env)
    assert repair.returncode == 0, repair.stderr
    assert "Traceback" not in repair.stderr

    if case == "vocab = {}":  # answers after a repair are checked for every case in test_robustness_index
        fixed = _run(["ask", QUESTION, "--json"], tmp_path, env)
        assert fixed.returncode == 0, fixed.stderr
        assert "1780" in json.loads(fixed.stdout)["answer"]
