"""A workbook written with the last run's workbook at hand: what is the same is copied.

The strongest check is by design: the workbook written from the last one has the very
bytes of a workbook written whole from the same data. Besides, the copied sheets are
really not built again, a damaged last workbook or record is never copied from, the
warnings of a copied sheet are still reported, and LibreOffice opens the result.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import subprocess
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

import reports.render.xlsx as xlsx
from reports.model import Model
from reports.problems import Problem
from reports.render.xlsx import parts_path, write_workbook
from reports.render.zipparts import crc32_combine
from reports.sources import read_sources
from reports.validate import validate
from tests.conftest import require_tool
from tests.datasets import copy_bundled, make_synthetic, set_cell

GENERATED_AT = dt.datetime(2024, 11, 28, 9, 30, tzinfo=ZoneInfo("Asia/Baku"))
AS_OF = "2024-11-27"
LONG_SUMMARY = "word " * 8_000  # 40,000 characters: cut, with a warning
NEW_TITLE = "A title changed since the last run"


@dataclass(frozen=True)
class Written:
    path: Path
    problems: list[Problem]

    @property
    def record(self) -> dict:
        return json.loads(parts_path(self.path).read_text(encoding="utf-8"))

    @property
    def copied(self) -> list[str]:
        return self.record["copied"]

    def sheets(self) -> dict[str, list[list[object]]]:
        book = CalamineWorkbook.from_path(str(self.path))
        return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def write(model: Model, folder: Path, previous: Path | None = None, *,
          run_id: str = "20241128-053000-0123abcd", changes: pd.DataFrame | None = None,
          name: str = "agreements.xlsx") -> Written:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    problems = write_workbook(model, path, as_of=AS_OF, generated_at=GENERATED_AT,
                              warnings=list(model.data.warnings), changes=changes,
                              sources_label="sources", run_id=run_id, previous=previous)
    return Written(path, problems)


def model_of(folder: Path) -> Model:
    data, problems = validate(read_sources(folder))
    assert data is not None, [str(p) for p in problems if p.is_error]
    return Model(data)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Model]:
    """The bundled data with an over-long summary, then the same with one title changed."""
    folder = copy_bundled(tmp_path_factory.mktemp("sources"))
    set_cell(folder, "agreements", 5, "summary", LONG_SUMMARY)
    before = model_of(folder)
    set_cell(folder, "agreements", 2, "title", NEW_TITLE)
    return before, model_of(folder)


@pytest.fixture(scope="module")
def last(tmp_path_factory: pytest.TempPathFactory, models: tuple[Model, Model]) -> Written:
    """The last run's workbook, before the title changed."""
    return write(models[0], tmp_path_factory.mktemp("last"))


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory, models: tuple[Model, Model]) -> Written:
    """The workbook after the change, written whole."""
    return write(models[1], tmp_path_factory.mktemp("whole"))


@pytest.fixture(scope="module")
def reused(tmp_path_factory: pytest.TempPathFactory, models: tuple[Model, Model],
           last: Written) -> Written:
    """The workbook after the change, written with the last one at hand."""
    return write(models[1], tmp_path_factory.mktemp("reused"), last.path)


def test_a_workbook_written_from_the_last_one_has_the_bytes_of_one_written_whole(
        whole: Written, reused: Written) -> None:
    assert reused.path.read_bytes() == whole.path.read_bytes()
    assert reused.problems == whole.problems
    assert reused.sheets() == whole.sheets()
    assert NEW_TITLE in [row[1] for row in reused.sheets()["Agreements"]]


def test_sheets_the_change_does_not_touch_are_copied_not_built(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, models: tuple[Model, Model],
        last: Written, whole: Written) -> None:
    built: list[str] = []
    write_table = xlsx._Book.write_table

    def spy(self: xlsx._Book, sheet: xlsx._Sheet, *args: object, **kwargs: object) -> None:
        built.append(sheet.title)
        write_table(self, sheet, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(xlsx._Book, "write_table", spy)
    again = write(models[1], tmp_path, last.path)
    assert again.path.read_bytes() == whole.path.read_bytes()
    # the title is on the Agreements, Participation and Targets sheets; the Changes
    # sheet is written each run, as are the overview and the charts (not table sheets)
    assert {"Agreements", "Participation", "Targets"} <= set(built)
    assert {"Parties", "AgreementThemes", "ByMinistry", "ByCompany", "ByTheme", "ByCountry",
            "PartyThemes", "DataQuality"} <= set(again.copied)
    assert not set(built) & set(again.copied)
    # a copied sheet's compressed bytes are the last workbook's, as they were
    with zipfile.ZipFile(last.path) as old, zipfile.ZipFile(again.path) as new:
        names = {ws: n for n, ws in enumerate(CalamineWorkbook.from_path(
            str(again.path)).sheet_names, 1)}
        entry = f"xl/worksheets/sheet{names['AgreementThemes']}.xml"
        assert _raw(old, entry) == _raw(new, entry)


def _raw(archive: zipfile.ZipFile, name: str) -> bytes:
    """An entry's compressed bytes, as they lie in the file."""
    info = archive.getinfo(name)
    assert archive.fp is not None
    archive.fp.seek(info.header_offset + 26)
    header = archive.fp.read(4)
    skip = int.from_bytes(header[:2], "little") + int.from_bytes(header[2:], "little")
    archive.fp.seek(info.header_offset + 30 + skip)
    return archive.fp.read(info.compress_size)


def test_a_copied_sheet_still_reports_the_text_it_had_to_cut(
        tmp_path: Path, models: tuple[Model, Model], last: Written) -> None:
    # a later run of the same data: only the run and the changes differ
    changes = pd.DataFrame(columns=["change", "table", "id", "field", "before", "after"])
    whole = write(models[0], tmp_path / "whole", run_id="later", changes=changes)
    again = write(models[0], tmp_path / "again", last.path, run_id="later", changes=changes)
    assert "Agreements" in again.copied
    assert again.path.read_bytes() == whole.path.read_bytes()
    cut = [p for p in again.problems if "cut to 32,767" in p.message]
    assert [(p.file, p.row, p.column) for p in cut] == \
        [("agreements.xlsx sheet Agreements", 5, "summary")]
    assert again.problems == whole.problems == last.problems
    header, *rows = again.sheets()["DataQuality"]
    shown = [dict(zip(header, row, strict=True)) for row in rows]
    assert [r["column"] for r in shown if "cut to 32,767" in str(r["message"])] == ["summary"]


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1000])


def _bytes_changed(path: Path) -> None:
    """One byte changed in the middle, where a copied sheet's bytes lie; same size."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _record_removed(path: Path) -> None:
    parts_path(path).unlink()


def _record_garbled(path: Path) -> None:
    parts_path(path).write_text("{not json", encoding="utf-8")


def _record_of_another_shape(path: Path) -> None:
    record = json.loads(parts_path(path).read_text(encoding="utf-8"))
    record["entries"] = {name: [[1, 2, 3]] for name in record["entries"]}
    parts_path(path).write_text(json.dumps(record), encoding="utf-8")


def _record_of_another_workbook(path: Path) -> None:
    record = json.loads(parts_path(path).read_text(encoding="utf-8"))
    for segments in record["entries"].values():
        for segment in segments:
            segment[4] ^= 1  # another CRC: the zip directory disagrees
    parts_path(path).write_text(json.dumps(record), encoding="utf-8")


def _workbook_removed(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("damage", [_truncated, _bytes_changed, _record_removed,
                                    _record_garbled, _record_of_another_shape,
                                    _record_of_another_workbook, _workbook_removed])
def test_a_damaged_last_workbook_or_record_means_a_workbook_written_whole(
        tmp_path: Path, models: tuple[Model, Model], last: Written, whole: Written,
        damage: object) -> None:
    folder = tmp_path / "last"
    folder.mkdir()
    shutil.copyfile(last.path, folder / last.path.name)
    (folder / "data").mkdir()
    shutil.copyfile(parts_path(last.path), parts_path(folder / last.path.name))
    damage(folder / last.path.name)  # type: ignore[operator]
    again = write(models[1], tmp_path / "new", folder / last.path.name)
    assert again.path.read_bytes() == whole.path.read_bytes()
    assert again.copied == []
    assert again.problems == whole.problems


def test_the_record_is_removed_with_a_workbook_that_failed(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, models: tuple[Model, Model],
        last: Written) -> None:
    write(models[0], tmp_path)
    assert parts_path(tmp_path / "agreements.xlsx").is_file()

    def fail(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xlsx.StampedZip, "put", fail)
    with pytest.raises(OSError):
        write(models[1], tmp_path, last.path)
    assert not (tmp_path / "agreements.xlsx").exists()
    assert not parts_path(tmp_path / "agreements.xlsx").exists()


def test_a_workbook_is_never_written_from_itself(tmp_path: Path,
                                                 models: tuple[Model, Model]) -> None:
    first = write(models[0], tmp_path)
    again = write(models[1], tmp_path, first.path)
    assert again.copied == []
    assert NEW_TITLE in [row[1] for row in again.sheets()["Agreements"]]


# ---------------------------------------------------------------- in a run


def test_a_routine_run_copies_what_did_not_change_from_the_last_run(tmp_path: Path) -> None:
    from reports import pipeline
    from reports.config import Settings

    sources = copy_bundled(tmp_path / "sources")
    output = tmp_path / "output"
    pipeline.run(Settings(sources=sources, output=output, workers=1))
    set_cell(sources, "agreements", 2, "title", NEW_TITLE)
    result = pipeline.run(Settings(sources=sources, output=output, workers=1))
    assert result.folder is not None and result.manifest is not None
    book = Written(result.folder / "agreements.xlsx", [])
    assert book.record["copied"] and "Agreements" not in book.copied
    assert "AgreementThemes" in book.copied
    # the record is the run's own data, like the snapshot: not a file people get
    paths = [f["path"] for f in result.manifest["files"]]
    assert not [p for p in paths if p.startswith("data/")]
    assert "parts" not in (result.folder / "briefings" / "index.html").read_text("utf-8")
    # the same tables as a run with nothing to copy from (but the overview's run and
    # time, and the changes)
    alone = pipeline.run(Settings(sources=sources, output=tmp_path / "alone", workers=1))
    assert alone.folder is not None
    expected = Written(alone.folder / "agreements.xlsx", []).sheets()
    got = book.sheets()
    for name in ("Overview", "Changes"):
        del expected[name], got[name]
    assert got == expected


# ---------------------------------------------------------------- chunks of rows

CHUNK_ROWS = 100  # rows a segment of their own (5,000 in the job): many chunks here
CHANGED_ROW = 1_234  # the agreement whose title changes: in the Agreements' 13th chunk


@pytest.fixture(scope="module")
def synthetic_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Model]:
    """2,000 synthetic agreements, then the same with one title changed."""
    folder = make_synthetic(tmp_path_factory.mktemp("synthetic"), 2000)
    before = model_of(folder)
    set_cell(folder, "agreements", CHANGED_ROW + 1, "title", NEW_TITLE)
    return before, model_of(folder)


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory,
            synthetic_models: tuple[Model, Model]) -> dict[str, Written]:
    """The last workbook, the next written whole, and the next written from the last."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(xlsx, "CHUNK_ROWS", CHUNK_ROWS)
        last = write(synthetic_models[0], tmp_path_factory.mktemp("chunked-last"))
        whole = write(synthetic_models[1], tmp_path_factory.mktemp("chunked-whole"))
        reused = write(synthetic_models[1], tmp_path_factory.mktemp("chunked"), last.path)
    return {"last": last, "whole": whole, "reused": reused}


def test_rows_the_change_does_not_touch_are_copied_a_chunk_at_a_time(
        chunked: dict[str, Written]) -> None:
    last, whole, reused = chunked["last"], chunked["whole"], chunked["reused"]
    assert reused.path.read_bytes() == whole.path.read_bytes()
    assert reused.problems == whole.problems
    assert reused.sheets() == whole.sheets()
    assert "Agreements" not in reused.copied and "Participation" not in reused.copied
    # 20 chunks of agreements, one changed; the changed title's participation rows lie
    # in one or two chunks
    copied = reused.record["copied_chunks"]
    assert copied["Agreements"] == 19
    participation = len(reused.sheets()["Participation"]) - 1
    assert copied["Participation"] >= -(-participation // CHUNK_ROWS) - 2
    # the copied chunks are the last workbook's compressed bytes, where the record says
    sheet = _entry(reused, "Agreements")
    old = {s[0]: s for s in last.record["entries"][_entry(last, "Agreements")]}
    new = [s for s in reused.record["entries"][sheet] if s[0]]
    assert len(new) == 20 and sum(s[0] in old for s in new) == 19
    with last.path.open("rb") as before, reused.path.open("rb") as after:
        for digest, offset, packed, *_ in new:
            if digest in old:
                before.seek(old[digest][1])
                after.seek(offset)
                assert before.read(packed) == after.read(packed)


def _entry(book: Written, sheet: str) -> str:
    number = CalamineWorkbook.from_path(str(book.path)).sheet_names.index(sheet) + 1
    return f"xl/worksheets/sheet{number}.xml"


def test_chunks_copied_after_excels_link_limit_still_say_where_links_stop(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        synthetic_models: tuple[Model, Model]) -> None:
    # the limit is reached in the Agreements' 3rd chunk, the title changes in the 13th:
    # the chunks copied after the limit hold no link, and the warning is given once
    monkeypatch.setattr(xlsx, "CHUNK_ROWS", CHUNK_ROWS)
    monkeypatch.setattr(xlsx, "LINKS_PER_SHEET", 250)
    before, after = synthetic_models
    last = write(before, tmp_path / "last")
    whole = write(after, tmp_path / "whole")
    again = write(after, tmp_path / "again", last.path)
    assert again.path.read_bytes() == whole.path.read_bytes()
    limit = [p for p in again.problems if "not links" in p.message and "Agreements" in p.file]
    assert len(limit) == 1 and 2 + 2 * CHUNK_ROWS <= limit[0].row < 2 + 3 * CHUNK_ROWS
    assert again.record["copied_chunks"]["Agreements"] == 19
    with zipfile.ZipFile(again.path) as archive:
        rels = archive.read(_entry(again, "Agreements").replace("sheets/", "sheets/_rels/")
                            + ".rels")
    assert rels.count(b"/hyperlink") == 250


def test_a_chunk_whose_compressed_bytes_were_damaged_is_not_copied(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        synthetic_models: tuple[Model, Model], chunked: dict[str, Written]) -> None:
    monkeypatch.setattr(xlsx, "CHUNK_ROWS", CHUNK_ROWS)
    last = chunked["last"]
    folder = tmp_path / "last"
    (folder / "data").mkdir(parents=True)
    shutil.copyfile(last.path, folder / last.path.name)
    shutil.copyfile(parts_path(last.path), parts_path(folder / last.path.name))
    # one byte of the Agreements' last chunk, which the next workbook would copy
    digest, offset, packed, *_ = [s for s in last.record["entries"][_entry(last, "Agreements")]
                                  if s[0]][-1]
    data = bytearray((folder / last.path.name).read_bytes())
    data[offset + packed // 2] ^= 0x01
    (folder / last.path.name).write_bytes(bytes(data))
    again = write(synthetic_models[1], tmp_path / "again", folder / last.path.name)
    assert again.path.read_bytes() == chunked["whole"].path.read_bytes()
    assert again.copied == [] and again.record["copied_chunks"] == {}


@given(st.binary(max_size=3000), st.binary(max_size=3000))
def test_crc32_combine_is_zlibs(first: bytes, second: bytes) -> None:
    assert crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second)) == \
        zlib.crc32(first + second)


def test_cells_written_differently_hash_differently() -> None:
    pairs = [(None, "None"), (float("nan"), "nan"), (1, "1"), (1.0, "1.0"), (True, "True"),
             (("a", "b"), "('a', 'b')"), (dt.date(2024, 1, 2), "2024-01-02")]
    for value, text in pairs:
        frame = pd.DataFrame({"x": pd.Series([value, "other"], dtype=object)})
        again = pd.DataFrame({"x": pd.Series([text, "other"], dtype=object)})
        assert xlsx._cell_hashes(frame)[0, 0] != xlsx._cell_hashes(again)[0, 0], (value, text)
    zero = xlsx._cell_hashes(pd.DataFrame({"x": [0.0]}))
    assert zero[0, 0] != xlsx._cell_hashes(pd.DataFrame({"x": [-0.0]}))[0, 0]
    for dtype in ("str", object):
        strings = xlsx._cell_hashes(pd.DataFrame({"x": pd.Series([None, "None"], dtype=dtype)}))
        assert strings[0, 0] != strings[1, 0], dtype


# ---------------------------------------------------------------- LibreOffice


@pytest.fixture(scope="module")
def libreoffice_csv(tmp_path_factory: pytest.TempPathFactory, reused: Written,
                    chunked: dict[str, Written]) -> Path:
    """Both workbooks written from the last ones, every sheet as CSV, in one conversion."""
    soffice = require_tool("soffice")
    base = tmp_path_factory.mktemp("libreoffice")
    out = base / "csv"
    shutil.copyfile(chunked["reused"].path, base / "chunked.xlsx")
    result = subprocess.run(
        [soffice, "--headless", "--norestore", f"-env:UserInstallation={(base / 'p').as_uri()}",
         "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,"
         "false,false,-1", "--outdir", str(out), str(reused.path), str(base / "chunked.xlsx")],
        capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr
    return out


def _csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize("stem", ["agreements", "chunked"])
def test_libreoffice_opens_a_workbook_written_from_the_last_one(
        libreoffice_csv: Path, reused: Written, chunked: dict[str, Written], stem: str) -> None:
    book = reused if stem == "agreements" else chunked["reused"]
    names = CalamineWorkbook.from_path(str(book.path)).sheet_names
    files = {p.name: p for p in libreoffice_csv.glob(f"{stem}-*.csv")}
    assert {f"{stem}-{n}.csv" for n in names} <= set(files)
    sheets = book.sheets()
    for name in ("Agreements", "Participation", "AgreementThemes"):
        rows = _csv(files[f"{stem}-{name}.csv"])
        assert len(rows) == len(sheets[name]), name
        assert [row[0] for row in rows] == [str(row[0]) for row in sheets[name]], name
    titles = [row[1] for row in _csv(files[f"{stem}-Agreements.csv"])]
    assert NEW_TITLE in titles
