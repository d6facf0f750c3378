"""Damaged indexes (issue 12 §4): every index file × every kind of damage ends in one line and a repair.

The index is built once with a small deterministic embedder (no model), then each case damages a
copy. A damaged index must never load (no silently wrong answer), the error must be one line, and
`build_index` must repair it, embedding again only what was really lost.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import xxhash

from retrieval.index import (
    BM25_FILES,
    CORE_FILES,
    MANIFEST,
    POINTER,
    IndexConfig,
    IndexDamaged,
    IndexProblem,
    build_index,
    current_version,
    load_index,
)
from retrieval.search import HybridSearcher
from tests.fakes.damage import DAMAGE, HashEmbedder

DATA = Path(__file__).parent / "data"
QUESTIONS = ["青海省总工会2023年计划投入多少专项经费？", "西宁市总工会建设了多少个户外劳动者服务站？", "威海市集体合同"]


CONFIG = IndexConfig(embedder=HashEmbedder.name, dim=HashEmbedder.dim, chunk_size=300, chunk_overlap=1)


def answers(index_dir: Path) -> list[list[tuple[str, int]]]:
    index = load_index(index_dir, CONFIG)
    searcher = HybridSearcher(index, HashEmbedder(), 0.5, 0.5)
    return [[(h.chunk.doc, h.chunk.start) for h in searcher.search(q, 3)] for q in QUESTIONS]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[Path, Path, list]:
    root = tmp_path_factory.mktemp("damage")
    corpus = root / "corpus"
    shutil.copytree(DATA / "tiny", corpus)
    index_dir = root / "index"
    build_index(corpus, index_dir, HashEmbedder(), CONFIG)
    return corpus, index_dir, answers(index_dir)


FILES = [POINTER, MANIFEST, *CORE_FILES, *BM25_FILES]


def _damage(index_dir: Path, name: str, kind: str) -> None:
    version = current_version(index_dir)
    assert version is not None
    path = index_dir / name if name == POINTER else version / name
    path.write_bytes(DAMAGE[kind](path.read_bytes()))


@pytest.mark.parametrize("kind", sorted(DAMAGE))
@pytest.mark.parametrize("name", FILES)
def test_damaged_file_is_one_line_and_repaired(pristine, tmp_path, name, kind):
    corpus, source, expected = pristine
    index_dir = tmp_path / "index"
    shutil.copytree(source, index_dir)
    _damage(index_dir, name, kind)

    with pytest.raises(IndexProblem) as caught:
        load_index(index_dir, CONFIG)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400
    assert "qabot index" in message

    embedder = HashEmbedder()
    report = build_index(corpus, index_dir, embedder, CONFIG)
    assert not report.unchanged
    assert report.repaired  # says what was wrong
    assert answers(index_dir) == expected
    if name not in (MANIFEST, *CORE_FILES):
        assert embedder.embedded == 0  # the intact vectors were re-used, nothing re-embedded
    again = build_index(corpus, index_dir, embedder, CONFIG)
    assert again.unchanged


def test_manifest_records_a_checksum_of_every_file(pristine):
    _, index_dir, _ = pristine
    version = current_version(index_dir)
    manifest = json.loads((version / MANIFEST).read_text(encoding="utf-8"))
    files = {p.relative_to(version).as_posix() for p in version.rglob("*") if p.is_file()} - {MANIFEST}
    assert set(manifest["checksums"]) == files
    for name, digest in manifest["checksums"].items():
        assert xxhash.xxh3_128_hexdigest((version / name).read_bytes()) == digest
    assert load_index(index_dir, CONFIG).verify_ms >= 0


def test_a_damaged_pointer_with_no_intact_version_rebuilds(pristine, tmp_path):
    corpus, source, expected = pristine
    index_dir = tmp_path / "index"
    shutil.copytree(source, index_dir)
    version = current_version(index_dir)
    (version / "vectors.faiss").write_bytes(b"")
    (index_dir / POINTER).write_bytes(b"\xff\xfe")
    with pytest.raises(IndexDamaged, match="not UTF-8"):
        load_index(index_dir, CONFIG)
    embedder = HashEmbedder()
    report = build_index(corpus, index_dir, embedder, CONFIG)
    assert embedder.embedded == report.chunks > 0
    assert answers(index_dir) == expected
