"""Raw tables -> typed tables plus every problem found (errors and warnings), in one pass.

Checks run over whole columns at C speed: each distinct value of a column is tested
once (columns repeat their values a lot) with map, sets and numpy, and the rows of the
values found wrong are found in one membership pass. Python loops run only over the
distinct values that are wrong or may change, and over the rows holding them.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
import re
import unicodedata
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from . import dataformat as fmt
from .problems import ERROR, WARNING, Problem, sort_problems
from .sources import RawData, RawTable

ID_RE = r"[a-z0-9-]+"
PARTIAL_DATE_RE = r"\d{4}(?:-\d{2}(?:-\d{2})?)?"
DATE_RE = r"\d{4}-\d{2}-\d{2}"
YEAR_RE = r"\d{4}"
NUMBER_RE = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
URL_RE = r"https?://[^\s/?#]+[^\s]*"
# characters a workbook cannot hold: control characters but tab and line breaks,
# U+FFFE, U+FFFF and lone surrogates
UNSTORABLE_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# legal-form suffixes, compared after dots are removed ("A.Ş." -> "as", "S.p.A." -> "spa")
LEGAL_SUFFIXES = re.compile(
    r"\s(llc|ltd|limited|plc|inc|corp|corporation|co|company|gmbh|ag|sa|spa|as|ojsc|cjsc|jsc|"
    r"bv|nv|srl|sarl|pte|pty|group)$"
)
ID_PATTERN = re.compile(ID_RE)
EXPECTED_ID = "lowercase letters a-z, digits 0-9 and '-' (e.g. 'ministry-of-economy')"


def _country_codes() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_2 for c in pycountry.countries)


@dataclass(frozen=True, eq=False)
class DataSet:
    """The validated data: one DataFrame per table, text cleaned, lists as tuples.

    Each frame keeps the curator's row number in column `_row`; `labels` maps a
    table to its file name as the curator knows it.
    """

    agreements: pd.DataFrame
    parties: pd.DataFrame
    participation: pd.DataFrame
    themes: pd.DataFrame
    targets: pd.DataFrame
    sources: pd.DataFrame
    labels: dict[str, str]
    warnings: tuple[Problem, ...] = ()
    extra_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)


@dataclass
class _Checker:
    labels: dict[str, str]
    problems: list[Problem] = field(default_factory=list)

    def add(self, severity: str, code: str, table: str, rows: pd.Series | list,
            column: str | None, message: str | Callable[[object], str],
            expected: str | None = None, values: pd.Series | list | None = None) -> None:
        rows = list(rows)
        vals = list(values) if values is not None else [None] * len(rows)
        for row, value in zip(rows, vals, strict=True):
            text = message(value) if callable(message) else message
            self.problems.append(Problem(severity, self.labels[table], int(row), column, text,
                                         expected, code))

    def error(self, *args, **kwargs) -> None:
        self.add(ERROR, *args, **kwargs)

    def warn(self, *args, **kwargs) -> None:
        self.add(WARNING, *args, **kwargs)


_is_nfc = functools.partial(unicodedata.is_normalized, "NFC")


def _cleaned(value: str) -> tuple[str, bool, str, bool]:
    """A value trimmed, without unstorable characters and NFC-normalised: (the text, whether
    spaces were trimmed off, the characters removed as "U+0007, ..." or "", whether it was
    normalised). The text is `value` itself when nothing changed."""
    text = value.strip()
    trimmed = bool(text) and len(text) != len(value)
    shown = ""
    if UNSTORABLE_RE.search(text):
        shown = ", ".join(sorted({f"U+{ord(ch):04X}" for ch in UNSTORABLE_RE.findall(text)}))
        text = UNSTORABLE_RE.sub("", text).strip()
    normalised = False
    if not text.isascii():
        nfc = unicodedata.normalize("NFC", text)
        if nfc != text:
            text, normalised = nfc, True
    return text, trimmed, shown, normalised


def _clean_text(frame: pd.DataFrame, table: str, check: _Checker) -> pd.DataFrame:
    """Trim, NFC-normalise and drop unstorable characters, warning for each change.

    Each distinct value of a column is looked at once, and only the few that could change
    (spaces around them, a character that is not printable, or not in NFC) in Python: text
    columns repeat their values a lot, and the tests that pass almost every value (strip,
    isprintable, isascii, is_normalized) run at C speed. A column nothing changed in is
    left alone.
    """
    rows = frame["_row"].to_numpy()
    for column in [c for c in frame.columns if c != "_row"]:
        raw: list[str] = frame[column].tolist()
        distinct = list(set(raw))
        odd = set(itertools.compress(distinct, map(operator.is_not, distinct,
                                                   map(str.strip, distinct))))
        odd.update(itertools.compress(distinct, map(operator.not_,
                                                    map(str.isprintable, distinct))))
        # text not ASCII, printable and without spaces around it changes only if not NFC
        foreign = list(itertools.compress(distinct, map(operator.not_,
                                                        map(str.isascii, distinct))))
        odd.update(itertools.compress(foreign, map(operator.not_, map(_is_nfc, foreign))))
        fixes = {v: fix for v, fix in zip(odd, map(_cleaned, odd), strict=True)
                 if fix[0] is not v}
        if not fixes:
            continue
        changed = np.flatnonzero(np.fromiter(map(fixes.__contains__, raw), dtype=bool,
                                             count=len(raw)))
        found = [(rows[i], fixes[raw[i]]) for i in changed]
        trimmed = [row for row, fix in found if fix[1]]
        if trimmed:
            check.warn("text-trimmed", table, trimmed, column,
                       "spaces around the text were removed")
        removed = [(row, fix[2]) for row, fix in found if fix[2]]
        if removed:
            check.warn("characters-removed", table, [row for row, _ in removed], column,
                       lambda v: f"removed characters a workbook cannot hold ({v})",
                       values=[shown for _, shown in removed])
        normalised = [row for row, fix in found if fix[3]]
        if normalised:
            check.warn("text-normalised", table, normalised, column,
                       "text was normalised to Unicode NFC (composed letters)")
        texts = {v: fix[0] for v, fix in fixes.items()}
        frame[column] = pd.Series(list(map(texts.get, raw, raw)), index=frame.index,
                                  dtype=object)
    return frame


def _frame(raw: RawTable, spec: fmt.Table, check: _Checker) -> tuple[pd.DataFrame, bool]:
    """The table as a frame with every format column; False when a required column is missing."""
    complete = True
    for column in spec.columns:
        if column.name not in raw.header and column.required:
            check.problems.append(Problem(
                ERROR, raw.label, None, column.name, "required column is missing",
                f"a header with {', '.join(spec.column_names)}", "missing-column"))
            complete = False
    columns: dict[str, np.ndarray] = {}
    for name, values in zip(raw.header, raw.columns, strict=True):
        if name not in columns:  # the first of columns of one name
            columns[name] = np.array(values, dtype=object)
    # object dtype: much faster than pandas 3 "str" here; every cell is a str as read (the
    # columns are as long as the row numbers), so there is nothing to fill in
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(raw.row_numbers)), dtype=object,
                         copy=False)
    for column in spec.columns:
        if column.name not in frame.columns:
            frame[column.name] = ""
    frame["_row"] = pd.Series(np.array(raw.row_numbers, dtype=np.int64), index=frame.index,
                              dtype="int64", copy=False)
    return frame, complete


@lru_cache(maxsize=65536)  # bounded: the scheduler runs for weeks
def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(";") if item.strip())


@lru_cache(maxsize=65536)  # bounded: the scheduler runs for weeks
def _is_date(value: str, partial: bool) -> bool:
    """A real calendar date as YYYY-MM-DD (or YYYY-MM / YYYY when partial)."""
    if partial and re.fullmatch(r"\d{4}", value):
        return True
    if partial and re.fullmatch(r"\d{4}-\d{2}", value):
        return 1 <= int(value[5:]) <= 12
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=65536)  # bounded: the scheduler runs for weeks
def date_order(value: str) -> tuple[str, int]:
    """How a valid (possibly partial) date sorts among others: (earliest day, precision).

    The earliest day it could be comes first, as YYYY-MM-DD ("2024-11" -> "2024-11-01",
    "2024" -> "2024-01-01"): "2024-11-05" is newer than "2024-11", and "2024-11" newer
    than "2024-10-31". On the same earliest day the more precise date is the newer one:
    "2024-11-01" beats "2024-11", which beats "2024".
    """
    parts = value.split("-")
    return "-".join([*parts, "01", "01"][:3]), len(parts)


def newest_date(values: Iterable[str]) -> str:
    """The newest of the valid (possibly partial) dates in `values` as it stands (see
    `date_order`), or "" when there is none; empty and invalid values are skipped."""
    dates = [v for v in values if v and _is_date(v, partial=True)]
    return max(dates, key=date_order) if dates else ""


@lru_cache(maxsize=65536)  # bounded: the scheduler runs for weeks
def _is_id_list(value: str) -> bool:
    items = _split_list(value)
    return bool(items) and all(ID_PATTERN.fullmatch(item) for item in items)


def _failing(values: list[str], test: Callable[[str], object]) -> set[str]:
    """The distinct non-empty values failing `test`, each tested once (iterated at C speed:
    the test is the only call per value)."""
    distinct = set(values)
    distinct.discard("")
    return set(itertools.compress(distinct, map(operator.not_, map(test, distinct))))


def _rows_of(values: list[str], chosen: Container[str]) -> np.ndarray:
    """Positions of the values that are in `chosen`, in order (one C-level pass)."""
    return np.flatnonzero(np.fromiter(map(chosen.__contains__, values), dtype=bool,
                                      count=len(values)))


def _mapped(series: pd.Series, function: Callable[[str], object]) -> pd.Series:
    """series.map(function) for a column of text, `function` called once a distinct value."""
    values: list[str] = series.tolist()
    results = {v: function(v) for v in set(values)}
    return pd.Series(list(map(results.__getitem__, values)), index=series.index, dtype=object,
                     name=series.name)


def _check_columns(frame: pd.DataFrame, spec: fmt.Table, check: _Checker,
                   countries: frozenset[str]) -> None:
    t = spec.name
    rows = frame["_row"].to_numpy()
    for column in spec.columns:
        values: list[str] = frame[column.name].tolist()
        if column.required and "" in values:
            check.error("empty-value", t, rows[_rows_of(values, {""})], column.name,
                        "is empty", _describe_expected(column))
        kind = column.kind
        if kind in (fmt.ID, fmt.REF):
            bad = _failing(values, ID_PATTERN.fullmatch)
            message, expected, code = "is not a valid id", EXPECTED_ID, "invalid-id"
        elif kind == fmt.ENUM:
            allowed = set(column.allowed)
            bad = _failing(values, allowed.__contains__)
            message, expected = "is not an allowed value", "one of " + ", ".join(column.allowed)
            code = "not-allowed"
        elif kind in (fmt.PARTIAL_DATE, fmt.DATE):
            partial = kind == fmt.PARTIAL_DATE
            bad = _failing(values, functools.partial(_is_date, partial=partial))
            message, code = "is not a real date", "invalid-date"
            expected = ("YYYY-MM-DD, or YYYY-MM / YYYY where only that is known" if partial
                        else "a date as YYYY-MM-DD")
        elif kind == fmt.YEAR:
            bad = _failing(values, re.compile(YEAR_RE).fullmatch)
            message, expected = "is not a year", "a four-digit year such as 2030"
            code = "invalid-year"
        elif kind == fmt.NUMBER:
            bad = _failing(values, re.compile(NUMBER_RE).fullmatch)
            message, code = "is not a number", "invalid-number"
            expected = "a number such as 40 or 12.5 (the unit goes in 'unit')"
        elif kind == fmt.URL:
            bad = _failing(values, re.compile(URL_RE).fullmatch)
            message, expected = "is not a web address", "an address starting with http:// or https://"
            code = "invalid-url"
        elif kind == fmt.COUNTRY:
            bad = _failing(values, countries.__contains__)
            message, code = "is not an ISO 3166-1 alpha-2 country code", "invalid-country"
            expected = ("two capital letters such as AZ, TR or GB; empty for an international "
                        "organisation")
        elif kind == fmt.IDLIST:
            bad = _failing(values, _is_id_list)
            message, expected = "is not a list of ids", EXPECTED_ID + ", separated by ';'"
            code = "invalid-id-list"
        else:
            continue
        if bad:
            where = _rows_of(values, bad)
            check.error(code, t, rows[where], column.name, lambda v, m=message: f"'{v}' {m}",
                        expected, values=[values[i] for i in where])


def _describe_expected(column: fmt.Column) -> str:
    if column.kind == fmt.ENUM:
        return "one of " + ", ".join(column.allowed)
    if column.kind == fmt.IDLIST:
        return f"one or more {column.refers_to} ids separated by ';'"
    if column.kind in (fmt.ID, fmt.REF):
        return EXPECTED_ID
    return "a value"


def _check_unique(frame: pd.DataFrame, spec: fmt.Table, check: _Checker) -> None:
    """Each id once, ids differing only in case (or spaces) counting as the same: an error
    on every row after the first of an id, naming the first row."""
    key = spec.key
    ids: list[str] = frame[key].tolist()
    folded = [v.strip().casefold() for v in ids]
    present = [name for v, name in zip(ids, folded, strict=True) if v]
    if len(set(present)) == len(present):
        return  # no id twice: the common case
    first_row: dict[str, int] = {}
    seen: set[str] = set()
    dup: list[int] = []
    for i, (name, row) in enumerate(zip(folded, frame["_row"].tolist(), strict=True)):
        if not ids[i]:
            continue
        if name in seen:
            dup.append(i)
        seen.add(name)
        first_row[name] = min(first_row.get(name, row), row)
    rows = frame["_row"].to_numpy()
    check.error("duplicate-id", spec.name, rows[dup], key,
                lambda v: f"'{v[0]}' is already used in row {v[1]}",
                f"each {key} once (ids differing only in case count as the same)",
                values=[(ids[i], first_row[folded[i]]) for i in dup])


def _check_references(tables: dict[str, pd.DataFrame], check: _Checker) -> None:
    ids = {name: set(tables[name][fmt.TABLES_BY_NAME[name].key])
           for name in ("agreements", "parties", "themes", "sources") if name in tables}
    for spec in fmt.TABLES:
        if spec.name not in tables:
            continue
        frame = tables[spec.name]
        for column in spec.columns:
            if column.kind not in (fmt.REF, fmt.IDLIST) or column.refers_to not in ids:
                continue
            known = ids[column.refers_to]
            target_file = check.labels.get(column.refers_to, column.refers_to)
            values: list[str] = frame[column.name].tolist()
            rows = frame["_row"].to_numpy()
            if column.kind == fmt.REF:
                bad = {v for v in set(values).difference(known)
                       if v and ID_PATTERN.fullmatch(v)}
                where = _rows_of(values, bad)
                check.error("unknown-reference", spec.name, rows[where], column.name,
                            lambda v, tf=target_file: f"'{v}' is not in {tf}",
                            f"an id listed in {target_file}", values=[values[i] for i in where])
            else:
                unknown = {v: items for v in set(values)
                           if (items := [item for item in _split_list(v)
                                         if item not in known and ID_PATTERN.fullmatch(item)])}
                where = _rows_of(values, unknown)
                check.error("unknown-reference", spec.name,
                            [rows[i] for i in where for _ in unknown[values[i]]], column.name,
                            lambda v, tf=target_file: f"'{v}' is not in {tf}",
                            f"ids listed in {target_file}",
                            values=[item for i in where for item in unknown[values[i]]])


def _check_cycles(frame: pd.DataFrame, table: str, key: str, check: _Checker) -> None:
    parent = dict(zip(frame[key], frame["parent_id"], strict=True))
    rows = dict(zip(frame[key], frame["_row"], strict=True))
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in parent:
        path: list[str] = []
        node = start
        while node and node in parent and state.get(node) is None:
            state[node] = 1
            path.append(node)
            node = parent[node]
        if node and state.get(node) == 1:
            cycle = path[path.index(node):]
            text = " -> ".join([*cycle, node])
            for member in cycle:
                check.error("parent-cycle", table, [rows[member]], "parent_id",
                            f"'{parent[member]}' leads back to '{member}' ({text})",
                            "a parent that is not below the row itself")
        for member in path:
            state[member] = 2


def _check_themes(themes: pd.DataFrame, check: _Checker) -> None:
    top = set(themes.loc[themes["parent_id"] == "", "theme_id"])
    for required in fmt.REQUIRED_TOP_THEMES:
        if required not in top:
            row = themes.loc[themes["theme_id"] == required, "_row"]
            check.error("missing-top-level-theme", "themes", row if len(row) else [1],
                        "theme_id" if len(row) else None,
                        f"'{required}' must be a top-level theme (empty parent_id)"
                        if len(row) else f"the top-level theme '{required}' is missing",
                        "top-level themes green-economy, smes and digitalization")


def _normalised_name(name: str) -> str:
    text = name.casefold()
    if not text.isascii():  # ASCII has no compatibility forms and no combining marks
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("ı", "i")
    text = text.replace(".", "")
    text = " ".join(re.sub(r"[^\w\s]", " ", text).split())
    previous = None
    while previous != text:
        previous = text
        text = LEGAL_SUFFIXES.sub("", text).strip()
    return text


def _check_warnings(tables: dict[str, pd.DataFrame], check: _Checker) -> None:
    parties, participation = tables["parties"], tables["participation"]
    agreements, themes = tables["agreements"], tables["themes"]
    # a party taking part in nothing, directly or through parties below it
    active = set(participation["party_id"].tolist())
    parent = dict(zip(parties["party_id"], parties["parent_id"], strict=True))
    for party in list(active):
        seen = set()
        node = parent.get(party, "")
        while node and node not in seen:
            seen.add(node)
            active.add(node)
            node = parent.get(node, "")
    idle = ~parties["party_id"].isin(active)
    check.warn("party-takes-part-in-nothing", "parties", parties["_row"][idle], "party_id",
               lambda v: f"'{v}' takes part in no agreement", values=parties["party_id"][idle])
    inferred = participation["certainty"] == "inferred"
    check.warn("inferred-participation", "participation", participation["_row"][inferred],
               "certainty",
               "participation is inferred, not stated by the source; readers see it marked")
    # a theme with no agreement under it or under a finer theme
    used = set(itertools.chain.from_iterable(
        map(_split_list, set(agreements["themes"].tolist()))))
    tparent = dict(zip(themes["theme_id"], themes["parent_id"], strict=True))
    for theme in list(used):
        seen = set()
        node = tparent.get(theme, "")
        while node and node not in seen:
            seen.add(node)
            used.add(node)
            node = tparent.get(node, "")
    unused = ~themes["theme_id"].isin(used)
    check.warn("unused-theme", "themes", themes["_row"][unused], "theme_id",
               lambda v: f"no agreement is under theme '{v}'", values=themes["theme_id"][unused])
    _check_dated_after_sources(agreements, tables["sources"], check)
    # likely duplicate parties
    names: dict[str, tuple[str, int]] = {}
    for pid, name, row in zip(parties["party_id"], parties["name"], parties["_row"],
                              strict=True):
        key = _normalised_name(name)
        if key and key in names and names[key][0] != pid:
            check.warn("likely-duplicate-party", "parties", [row], "name",
                       f"'{name}' looks like the same party as '{names[key][0]}' "
                       f"(row {names[key][1]})")
        else:
            names.setdefault(key, (pid, row))
    for pid, short, aliases, row in zip(parties["party_id"], parties["short_name"],
                                        parties["aliases"], parties["_row"], strict=True):
        for other in [short, *_split_list(aliases)]:
            key = _normalised_name(other) if other else ""
            if key and key in names and names[key][0] != pid:
                check.warn("likely-duplicate-party", "parties", [names[key][1]], "name",
                           f"the name equals an alias or short name of '{pid}' (row {row})")


def _check_dated_after_sources(agreements: pd.DataFrame, sources: pd.DataFrame,
                               check: _Checker) -> None:
    """An agreement signed, by the earliest day its signed_on could be, after the newest
    published_on / accessed_on of every one of its sources (those carrying a date)."""
    newest: dict[str, str] = {}  # source_id -> its newest valid date
    for column in ("published_on", "accessed_on"):
        for sid, value in zip(sources["source_id"], sources[column], strict=True):
            if value and _is_date(value, partial=False) and value > newest.get(sid, ""):
                newest[sid] = value
    if not newest:
        return
    signed: list[str] = agreements["signed_on"].tolist()
    listed: list[str] = agreements["source_ids"].tolist()
    # each distinct date and list of sources once: the earliest day a date could be (blank
    # and invalid dates, errors already, left out), the newest date of a list's sources
    earliest = {value: date_order(value)[0] for value in set(signed)
                if value and _is_date(value, partial=True)}
    latest = {ids: max(dated) for ids in set(listed)
              if (dated := [newest[sid] for sid in _split_list(ids) if sid in newest])}
    rows: list[int] = []
    shown: list[tuple[str, str]] = []
    for value, ids, row in zip(signed, listed, agreements["_row"].tolist(), strict=True):
        day = earliest.get(value)
        if day is not None and ids in latest and day > latest[ids]:
            rows.append(row)
            shown.append((value, latest[ids]))
    check.warn("dated-after-sources", "agreements", rows, "signed_on",
               lambda v: f"dated {v[0]}, after every date of its sources (newest {v[1]})",
               values=shown)


def validate(raw: RawData,
             can_print: Callable[[str], str] | None = None) -> tuple[DataSet | None, list[Problem]]:
    """Check everything at once. Returns the data set (None if any error) and the problems.

    `can_print`, when given, returns the characters of a text the briefings' font lacks;
    each such text is a warning naming where it is.
    """
    labels = {name: table.label for name, table in raw.tables.items()}
    for spec in fmt.TABLES:
        labels.setdefault(spec.name, f"{spec.name}.csv")
    check = _Checker(labels, list(raw.problems))
    countries = _country_codes()
    tables: dict[str, pd.DataFrame] = {}
    complete: dict[str, bool] = {}
    extras: dict[str, tuple[str, ...]] = {}
    for spec in fmt.TABLES:
        table = raw.tables.get(spec.name)
        if table is None:
            continue
        frame, ok = _frame(table, spec, check)
        frame = _clean_text(frame, spec.name, check)
        extras[spec.name] = tuple(c for c in table.header if c not in spec.column_names)
        complete[spec.name] = ok
        if ok:
            _check_columns(frame, spec, check, countries)
            if spec.key:
                _check_unique(frame, spec, check)
            for column in spec.columns:
                if column.default:
                    frame[column.name] = frame[column.name].replace("", column.default)
        tables[spec.name] = frame
    if all(complete.get(spec.name) for spec in fmt.TABLES):
        _check_references(tables, check)
        _check_cycles(tables["parties"], "parties", "party_id", check)
        _check_cycles(tables["themes"], "themes", "theme_id", check)
        _check_themes(tables["themes"], check)
        participation, agreements = tables["participation"], tables["agreements"]
        ids: list[str] = agreements["agreement_id"].tolist()
        lonely = set(ids).difference(participation["agreement_id"].tolist(), [""])
        no_party = _rows_of(ids, lonely)
        check.error("agreement-without-party", "agreements",
                    agreements["_row"].to_numpy()[no_party], "agreement_id",
                    lambda v: f"agreement '{v}' has no party",
                    f"at least one row for it in {labels['participation']}",
                    values=[ids[i] for i in no_party])
        keys = ["agreement_id", "party_id", "role"]
        twice = participation.duplicated(keys, keep="first")
        # the first row of each (only where one is taken twice: the groupby is not cheap)
        first = (participation.groupby(keys, sort=False)["_row"].transform("min")
                 if twice.any() else participation["_row"])
        check.error("duplicate-participation", "participation", participation["_row"][twice], None,
                    lambda v: f"party '{v[0]}' already takes the role '{v[1]}' in '{v[2]}' "
                              f"(row {v[3]})",
                    "each (agreement_id, party_id, role) once",
                    values=list(zip(participation["party_id"][twice],
                                    participation["role"][twice],
                                    participation["agreement_id"][twice], first[twice],
                                    strict=True)))
        _check_warnings(tables, check)
        if can_print is not None:
            _check_printable(tables, check, can_print)
    problems = sort_problems(check.problems)
    if any(p.is_error for p in problems):
        return None, problems
    for name, listing in (("agreements", "themes"), ("agreements", "source_ids"),
                          ("parties", "aliases")):
        tables[name][listing] = _mapped(tables[name][listing], _split_list)
    targets = tables["targets"]
    targets["value"] = pd.to_numeric(targets["value"].replace("", None), errors="coerce")
    targets["target_year"] = pd.to_numeric(
        targets["target_year"].replace("", None), errors="coerce").astype("Int64")
    warnings = tuple(p for p in problems if not p.is_error)
    return DataSet(labels=labels, warnings=warnings, extra_columns=extras, **tables), problems


def _check_printable(tables: dict[str, pd.DataFrame], check: _Checker,
                     can_print: Callable[[str], str]) -> None:
    """A warning for each cell holding characters the briefings' font lacks: `can_print`
    is asked once for each distinct text that is not ASCII."""
    for name, frame in tables.items():
        for column in frame.columns:
            if column == "_row":
                continue
            values: list[str] = frame[column].tolist()
            distinct = list(set(values))
            odd = itertools.compress(distinct, map(operator.not_, map(str.isascii, distinct)))
            missing = {v: lacking for v in odd if (lacking := can_print(v)) != ""}
            if not missing:
                continue
            where = _rows_of(values, missing)
            check.warn("unprintable-characters", name, frame["_row"].to_numpy()[where], column,
                       lambda v: f"the briefings' font has no glyph for {v}; "
                                 "it prints as an empty box",
                       values=[missing[values[i]] for i in where])
