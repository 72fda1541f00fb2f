"""The developer scripts: synthetic data that is valid and reproducible, a benchmark that runs.

Timings are never asserted: these check that the measuring tools keep working, on a
data set small enough to take seconds.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from reports.sources import read_sources
from reports.validate import validate
from tests.conftest import ROOT

SCRIPTS = ROOT / "scripts"


def synthetic(folder: Path, agreements: int, seed: int = 1) -> Path:
    subprocess.run([sys.executable, str(SCRIPTS / "make-synthetic-sources"), "--agreements",
                    str(agreements), "--seed", str(seed), "--output", str(folder), "--quiet"],
                   check=True, cwd=ROOT)
    return folder


def rows(folder: Path, table: str) -> list[dict[str, str]]:
    with (folder / f"{table}.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_synthetic_data_is_valid_reproducible_and_shaped_like_the_issue_asks(
        tmp_path: Path) -> None:
    one = synthetic(tmp_path / "one", 400)
    two = synthetic(tmp_path / "two", 400)
    other = synthetic(tmp_path / "other", 400, seed=2)
    files = sorted(p.name for p in one.iterdir())
    assert files == sorted(p.name for p in two.iterdir())
    for name in files:  # same arguments, same bytes
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert (one / "agreements.csv").read_bytes() != (other / "agreements.csv").read_bytes()

    data, problems = validate(read_sources(one))
    assert data is not None, [str(p) for p in problems if p.is_error][:5]

    agreements = rows(one, "agreements")
    participation = rows(one, "participation")
    assert len(agreements) == 400
    per_agreement = Counter(r["agreement_id"] for r in participation)
    assert 2.0 <= len(participation) / len(agreements) <= 5.0  # about 3 parties each
    assert max(per_agreement.values()) >= 8  # a long tail: some with many parties
    kinds = Counter(r["kind"] for r in rows(one, "parties"))
    assert kinds["ministry"] and kinds["company"] > kinds["ministry"]
    assert len(rows(one, "themes")) >= 30  # a theme tree of about 40
    names = [r["name"] for r in rows(one, "parties")]
    assert any(not name.isascii() for name in names)  # names with non-ASCII letters
    with_targets = {r["agreement_id"] for r in rows(one, "targets")}
    assert 0.03 <= len(with_targets) / len(agreements) <= 0.3  # about a tenth


def test_the_benchmark_runs_and_writes_its_results(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(SCRIPTS / "benchmark"), "--sizes", "300",
                           "--repeat", "1", "--no-bundled", "--one-change", "--keep",
                           "--json", str(results), "--workdir", str(tmp_path / "work")],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Goals of issue 16" in done.stdout
    data = json.loads(results.read_text(encoding="utf-8"))
    [size] = data["sizes"]
    assert size["agreements"] == 300
    full = size["full_run"]
    assert full["outcome"] == "published" and full["briefings"] > 10 and full["pages"] > 0
    for stage in ("load", "validate", "summaries", "briefings", "workbook", "publish"):
        assert full["stages"][stage]["time_s"] >= 0, stage
    assert size["unchanged_run"]["outcomes"] == ["unchanged"]
    one = size["one_change_run"]
    assert one["outcome"] == "published" and one["briefings_reused"] > 0
    # the first run after the full run is not counted; of three routine runs, the median
    assert len(one["runs"]) == 4 and len(one["routine_wall_s"]) == 3
    assert one["wall_s"] == sorted(one["routine_wall_s"])[1]
    assert size["yardstick"]["process_wall_s"] > 0

    # one party renamed: the one taking part most often, its briefing rendered again
    renamed = size["party_rename_run"]
    assert renamed["outcome"] == "published"
    kept = tmp_path / "work" / "n300"
    later = size["agreement_added_run"]["added_agreement"]  # added after the rename
    counts = Counter(r["party_id"] for r in rows(kept / "sources", "participation")
                     if r["agreement_id"] != later)
    assert renamed["participation_rows"] == max(counts.values()) == counts[renamed["party_id"]]
    assert 0 < renamed["agreements"] <= renamed["participation_rows"]
    [party] = [r for r in rows(kept / "sources", "parties")
               if r["party_id"] == renamed["party_id"]]
    assert party["name"] == renamed["renamed_to"] != renamed["party_name"]
    assert renamed["briefing"] and renamed["briefing_reused"] is False
    assert 0 < renamed["briefings_reused"] < renamed["briefings"]
    # the same, from the rename run's own manifest (after it: a title change, then the
    # typical party's rename and a title change)
    history = [json.loads(line) for line in
               (kept / "output" / "history.jsonl").read_text(encoding="utf-8").splitlines()]
    published = [r["run_id"] for r in history if r.get("outcome") == "published"]
    manifest = json.loads((kept / "output" / "runs" / published[-5] / "manifest.json")
                          .read_text(encoding="utf-8"))
    briefings = [f for f in manifest["files"] if f["kind"] == "briefing"]
    [own] = [f for f in briefings if f["path"] == renamed["briefing"]]
    assert own["subject_id"] == renamed["party_id"] and not own["reused"]
    assert sum(f["reused"] for f in briefings) == renamed["briefings_reused"]
    assert renamed["briefings_rendered"] == renamed["briefings"] - renamed["briefings_reused"]
    assert renamed["briefings_with_rename_line"] > 0
    after = renamed["run_after"]
    assert after["outcome"] == "published"
    assert after["briefings_rename_line_dropped"] == renamed["briefings_with_rename_line"]
    assert after["of_them_rendered"] == after["briefings_rename_line_dropped"]
    # a typical party (the median by participation) renamed: the goal of 25 % is its
    typical = size["typical_party_rename_run"]
    assert typical["outcome"] == "published"
    assert typical["participation_rows"] <= renamed["participation_rows"]
    assert typical["briefing_reused"] is False
    # then one agreement added: in the data, in the last run, and shown in few briefings
    added = size["agreement_added_run"]
    assert added["outcome"] == "published"
    assert added["added_agreement"] in {r["agreement_id"]
                                        for r in rows(kept / "sources", "agreements")}
    assert added["added_agreement"] in {r["agreement_id"]
                                        for r in rows(kept / "sources", "participation")}
    last = json.loads((kept / "output" / "latest" / "manifest.json").read_text(encoding="utf-8"))
    assert last["run_id"] == published[-1] and last["changes"]
    assert 0 < added["briefings_rendered"] < added["briefings"]

    goals = {g["goal"]: g for g in data["goals"]}
    title, party = ("one title changed under 10 % of a full run",
                    "one party renamed under 25 % of a full run")
    busiest = [g for g in goals if g.startswith("the busiest party renamed")]
    assert set(goals) >= {title, party, "peak memory of the run under 1 GB",
                          "run on unchanged data under 5 % of a full run"}
    assert len(busiest) == 1
    for name in (title, party, *busiest):
        assert goals[name]["met"] in (True, False), goals[name]  # measured, whichever way
    assert typical["party_id"] in goals[party]["measured"]
    assert renamed["party_id"] in goals[busiest[0]]["measured"]
    share = 100 * renamed["briefings_rendered"] / renamed["briefings"]
    assert goals[busiest[0]]["met"] == (renamed["percent_of_full"]
                                         <= share + one["percent_of_full"])
