"""The snapshot a run stores, and what the next run reads of it.

A routine run reads, of the last run's snapshot, only the chunks holding rows that
differ (reports/snapshot.py); an index that cannot be trusted for that very snapshot
is never used: the whole snapshot is read and compared, as before the index existed.
tests/test_incremental.py runs every kind of edit with and without the index and
compares every file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reports import pipeline, snapshot
from reports.changes import diff
from reports.config import Settings
from reports.sources import read_sources
from reports.validate import validate
from tests.datasets import copy_bundled, set_cell


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "SNAPSHOT_CHUNK", 2)  # several chunks per table, even here


def _snapshot_of(sources: Path) -> snapshot.Snapshot:
    data, _ = validate(read_sources(sources))
    assert data is not None
    return snapshot.Snapshot(data)


def _changed(run_folder: Path, snap: snapshot.Snapshot) -> list[tuple[str, str, str, str]]:
    compared = snapshot.compare(run_folder, snap)
    return [(c.change, c.table, c.id, c.field)
            for c in diff(compared.before, snap.views(), compared.keys)]


def test_a_title_change_reads_and_rewrites_one_chunk_of_the_snapshot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = copy_bundled(tmp_path / "sources")
    output = tmp_path / "output"
    pipeline.run(Settings(sources=sources, output=output, workers=1))
    set_cell(sources, "agreements", 2, "title", "A new title")
    read, encoded = [], []
    rows, chunk_text = snapshot._Index.rows, snapshot.Table.chunk_text
    monkeypatch.setattr(snapshot._Index, "rows",
                        lambda self, table, n: read.append(table) or rows(self, table, n))
    monkeypatch.setattr(snapshot.Table, "chunk_text",
                        lambda self, start: encoded.append(start) or chunk_text(self, start))
    result = pipeline.run(Settings(sources=sources, output=output, workers=1))
    assert result.changes == 1
    assert read == ["agreements"]  # one chunk of two rows, of 8 agreements and 30 other rows
    assert len(encoded) == 1  # every other chunk copied as it was
    data = result.folder / snapshot.SNAPSHOT_PATH
    assert snapshot.read_snapshot(result.folder) == _snapshot_of(sources).as_dict()
    assert data.stat().st_size > 0


def test_a_title_change_copies_every_table_s_keys_and_all_other_digests_into_the_index(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index's big parts are each table's keys and digests: a title change adds or
    removes no row and changes the digests of the agreements only, so everything else
    is copied from the last index (and the index reads back as this run's)."""
    import base64
    import gzip
    import json

    sources = copy_bundled(tmp_path / "sources")
    output = tmp_path / "output"
    pipeline.run(Settings(sources=sources, output=output, workers=1))
    set_cell(sources, "agreements", 2, "title", "A new title")
    compressed: list[str] = []
    gzip_text = snapshot._gzip
    monkeypatch.setattr(snapshot, "_gzip", lambda text: compressed.append(text) or gzip_text(text))
    result = pipeline.run(Settings(sources=sources, output=output, workers=1))
    assert result.changes == 1
    now = _snapshot_of(sources)
    keys = {name: json.dumps(snapshot.KEY_SEPARATOR.join(t.sorted_keys()),
                             ensure_ascii=False)[1:-1] for name, t in now.tables.items()}
    digests = {name: base64.b64encode(t.digests).decode() for name, t in now.tables.items()}
    assert all(keys.values()) and all(digests.values())  # every table has rows here
    assert not set(keys.values()) & set(compressed)
    assert [name for name, text in digests.items() if text in compressed] == ["agreements"]
    index = json.loads(gzip.decompress((result.folder / snapshot.INDEX_PATH).read_bytes()))
    for name, table in now.tables.items():
        assert index["tables"][name]["keys"] == snapshot.KEY_SEPARATOR.join(table.sorted_keys())
        assert base64.b64decode(index["tables"][name]["digests"]) == table.digests
    assert snapshot._Index.read(result.folder) is not None  # trusted by the next run


@pytest.mark.parametrize("damage", ["index of other data", "index torn", "index missing",
                                    "digests cut short"])
def test_an_index_that_cannot_be_trusted_is_not_used(tmp_path: Path, damage: str) -> None:
    """The last run's snapshot holds other data than its index says (or the index is
    damaged): the changes are those against the snapshot, read whole."""
    import base64
    import gzip
    import json

    sources = copy_bundled(tmp_path / "sources")
    run = tmp_path / "run"
    run.mkdir()
    snapshot.write_snapshot(_snapshot_of(sources), run)
    set_cell(sources, "agreements", 3, "status", "in_progress")
    now = _snapshot_of(sources)
    expected = _changed(run, now)
    assert [c[1:] for c in expected] == [("agreements", expected[0][2], "status")]
    index = run / snapshot.INDEX_PATH
    if damage == "index of other data":  # the index of the edited data, beside the old
        other = tmp_path / "other"
        other.mkdir()
        snapshot.write_snapshot(now, other)
        shutil.copy(other / snapshot.INDEX_PATH, index)
    elif damage == "index torn":
        index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])
    elif damage == "index missing":
        index.unlink()
    else:
        content = json.loads(gzip.decompress(index.read_bytes()))
        table = content["tables"]["agreements"]
        table["digests"] = base64.b64encode(base64.b64decode(table["digests"])[:-8]).decode()
        index.write_bytes(gzip.compress(json.dumps(content).encode()))
    assert _changed(run, now) == expected


def test_a_damaged_snapshot_is_unreadable_though_its_index_is_intact(tmp_path: Path) -> None:
    """The index is for the bytes it was written with: a byte changed since, and the
    snapshot is read whole and reported as damaged (the run then says changes were not
    computed), never compared by the index alone."""
    sources = copy_bundled(tmp_path / "sources")
    run = tmp_path / "run"
    run.mkdir()
    snapshot.write_snapshot(_snapshot_of(sources), run)
    path = run / snapshot.SNAPSHOT_PATH
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the index's SHA-256 no longer matches: read whole
    path.write_bytes(bytes(data))
    with pytest.raises(snapshot.UnreadableSnapshot, match="damaged"):
        snapshot.compare(run, _snapshot_of(sources))


def test_a_row_digest_changes_with_any_cell_and_only_with_its_content() -> None:
    """A routine run trusts equal digests to mean equal rows: a change to any one cell,
    text moved between neighbouring cells, or a non-text value written as other text
    must change the digest; the same rows in another order keep theirs."""
    import pandas as pd

    rows = [("a-1", "Deposit system", "bc", "2024-11-12", 40.0),
            ("a-2", "Deposit system", "", "2024-11", None),
            ("a-3", "Ünïcödé — “quoted”", "x\ny", "2024", 1.5)]
    variants = [("a-1", "Deposit systems", "bc", "2024-11-12", 40.0),  # one letter
                ("a-1", "Deposit system", "bc", "2024-11-13", 40.0),  # a date
                ("a-1", "Deposit systemb", "c", "2024-11-12", 40.0),  # text moved over
                ("a-1", "Deposit system", "bc", "2024-11-12", 40.5),  # a number
                ("a-1", "Deposit system", "bc", "2024-11-12", None),  # a number gone
                ("a-1", "Deposit system", "b c", "2024-11-12", 40.0)]
    columns = ["agreement_id", "title", "note", "signed_on", "value"]

    def digests(table: list[tuple]) -> dict[str, bytes]:
        made = snapshot.Table.of(pd.DataFrame(table, columns=columns), ("agreement_id",))
        return {k: made.digests[n * snapshot.DIGEST:(n + 1) * snapshot.DIGEST]
                for n, k in enumerate(made.sorted_keys())}

    base = digests(rows)
    assert len(set(base.values())) == 3
    assert digests(rows[::-1]) == base
    for variant in variants:
        assert digests([variant, *rows[1:]])["a-1"] != base["a-1"], variant
        assert {k: v for k, v in digests([variant, *rows[1:]]).items() if k != "a-1"} == \
            {k: v for k, v in base.items() if k != "a-1"}


def test_digests_made_differently_cost_reading_never_a_missed_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The digests are pandas' hashes: should a new pandas hash differently, every row
    looks changed, is read and compared, and the changes are still exactly the real
    ones."""
    sources = copy_bundled(tmp_path / "sources")
    output = tmp_path / "output"
    first = pipeline.run(Settings(sources=sources, output=output, workers=1))
    set_cell(sources, "agreements", 2, "title", "A new title")
    expected = _changed(first.folder, _snapshot_of(sources))
    digests = snapshot._row_digests
    monkeypatch.setattr(snapshot, "_row_digests",
                        lambda texts, order: bytes(b ^ 0x5A for b in digests(texts, order)))
    assert _changed(first.folder, _snapshot_of(sources)) == expected \
        == [("changed", "agreements", expected[0][2], "title")]
