"""One definition of every figure a reader sees, with its label.

Each figure is computed here once and every output takes it from here: the
briefings' key figures, summaries and charts, the workbook's KeyFigures and By*
tables, the e-mails, the command's closing line, the manifest and index.html.
The definitions (also in the README):

- Agreements: records of any kind but `discussion`, whatever their status.
- Discussions: records of kind `discussion`; never added to agreements.
- Parties taking part: distinct parties with a role in an agreement or discussion.
- Parties in the register: every row of parties.csv.
- Countries taking part: distinct countries of the parties taking part
  (international organisations and parties without a country are not a country).
- Partners (of a party): distinct other parties in its agreements and discussions;
  Partner countries: their distinct countries.
- Targets: targets of agreements (not of discussions); Targets with a number: those
  whose value is given. Totals are per unit, never across units, and never of
  percentages.
- "(rolled up)": over the party and every party below it through parent_id; its
  partners are the parties outside that group.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .model import Model

AGREEMENTS = "Agreements"
DISCUSSIONS = "Discussions"
PARTIES_TAKING_PART = "Parties taking part"
PARTIES_REGISTERED = "Parties in the register"
COUNTRIES = "Countries taking part"
PARTNERS = "Partners"
PARTNER_COUNTRIES = "Partner countries"
TARGETS = "Targets"
TARGETS_WITH_NUMBER = "Targets with a number"
ROLLED_UP = " (rolled up)"
PER_PARTY = (AGREEMENTS, DISCUSSIONS, PARTNERS, PARTNER_COUNTRIES, TARGETS)
STATUS_WORDS = {"signed": "signed", "open": "open to join", "in_progress": "in progress",
                "completed": "completed", "stalled": "stalled", "cancelled": "cancelled"}


@dataclass(frozen=True)
class Figure:
    label: str
    value: int
    about: str = ""  # what it counts, in a few words (the workbook's "Of" column)

    @property
    def text(self) -> str:
        return f"{self.value:,}"


@dataclass(frozen=True)
class TargetTotal:
    """The targets with a number in one unit, and their sum (None for percentages)."""

    unit: str
    targets: int
    total: float | None

    @property
    def text(self) -> str:
        """e.g. '875.7 million USD across 17 targets' or '3 targets in %'."""
        count = plural(self.targets, "target")
        if self.total is None:
            return f"{count} in {self.unit}"
        return f"{amount(self.total)} {self.unit} across {count}"


def as_of_phrase(as_of: str) -> str:
    """'data as of 2024-11-27', or 'undated data' when nothing in the data carries a date."""
    return f"data as of {as_of}" if as_of else "undated data"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def amount(value: float) -> str:
    """1,500,000 as '1.5 million'; 875,700,000 as '875.7 million'; 40 as '40'; 2.25 as '2.25'."""
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if abs(value) >= size:
            scaled = round(value / size, 1)
            return f"{scaled:,.1f}".removesuffix(".0") + f" {word}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{round(value, 2):,}"


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s_]+", text.strip()) if w]


def target_sentence(description: str, metric: str, value: float | None, unit: str,
                    year: int | None) -> str:
    """A target as one phrase built from its fields, no word twice: '40 % localization
    rate by 2030', '6,053 people trained by 2029', '1,500,000 USD commitment'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        head = description
    else:
        number = (f"{int(value):,}" if float(value).is_integer() else f"{value:,}")
        unit_words = {w.lower() for w in _words(unit)}
        what = [w for w in _words(metric) if w.lower() not in unit_words]
        if not what:  # the metric only repeats the unit: the description says what it is
            what = [w for w in _words(description) if w.lower() not in unit_words][:6]
        head = " ".join([number, *_words(unit), *what])
    return f"{head} by {year}" if year else head


def target_totals(values: Iterable[float | None], units: Iterable[str]) -> list[TargetTotal]:
    """Totals per unit (as written, case aside), most targets first; % is counted, not summed."""
    sums: dict[str, tuple[str, int, float]] = {}
    for value, unit in zip(values, units, strict=True):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        key = unit.strip().lower()
        name, n, total = sums.get(key, (unit.strip() or "(no unit)", 0, 0.0))
        sums[key] = (name, n + 1, total + float(value))
    out = [TargetTotal(name, n, None if name == "%" else total)
           for name, n, total in sums.values()]
    return sorted(out, key=lambda t: (-t.targets, t.unit))


TARGETS_LISTED = 3  # up to this many targets are given one by one; more, as totals


def targets_sentence(values: list[float | None], units: list[str],
                     sentences: list[str]) -> str:
    """What a briefing or e-mail says of its targets: each of a few, or totals per unit
    and how many carry no number: '17 targets are recorded: 875.7 million USD across 12
    targets; 3 targets in %. 2 carry no number.'"""
    n = len(values)
    if not n:
        return "No target is recorded."
    if n <= TARGETS_LISTED:
        return "; ".join(sentences) + "."
    totals = target_totals(values, units)
    numbered = sum(t.targets for t in totals)
    text = f"{plural(n, 'target')} are recorded"
    if numbered:
        text += ": " + "; ".join(t.text for t in totals)
    text += "."
    if numbered < n:
        rest = n - numbered
        text += f" {rest:,} {'carries' if rest == 1 else 'carry'} no number."
    return text


# ---------------------------------------------------------------- tables of figures


def _memo(model: Model, key: str, make):  # noqa: ANN001, ANN202 - a cache, typed by its callers
    cache: dict[str, object] = model.__dict__.setdefault("_figures_memo", {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def participation_pairs(model: Model) -> pd.DataFrame:
    """Distinct (agreement_id, party_id) pairs."""
    return _memo(model, "pairs", lambda: model.participation[
        ["agreement_id", "party_id"]].drop_duplicates().reset_index(drop=True))


INTERNATIONAL = "INT"  # the country "code" of international organisations
NO_COUNTRY = "(none)"


def country_code(kind: str, country: str) -> str:
    """A party's country code; international organisations and parties without a country
    are grouped under INT and (none)."""
    if country:
        return country
    return INTERNATIONAL if kind == "international_organization" else NO_COUNTRY


def party_codes(model: Model) -> pd.Series:
    """party_id -> ISO country code, '' for none (international organisations included)."""
    return model.parties["country"]


def counts_by(model: Model, pairs: pd.DataFrame, key: str) -> pd.DataFrame:
    """key -> Agreements, Discussions (distinct) from (key, agreement_id) pairs."""
    pairs = pairs[[key, "agreement_id"]].drop_duplicates()
    disc = pairs["agreement_id"].map(model.is_discussion).astype(bool)
    return pd.DataFrame({AGREEMENTS: (~disc).groupby(pairs[key]).sum(),
                         DISCUSSIONS: disc.groupby(pairs[key]).sum()}).astype("int64")


def _targets_per_agreement(model: Model) -> pd.Series:
    """agreement_id -> number of targets, agreements only (a discussion's count as 0)."""
    def make() -> pd.Series:
        counts = model.targets.groupby("agreement_id").size()
        counts = counts.reindex(model.agreements.index, fill_value=0)
        return counts.where(~model.is_discussion, 0).astype("int64")
    return _memo(model, "targets per agreement", make)


def taking_part(model: Model) -> pd.DataFrame:
    """The distinct participation pairs as integer positions: `a` of the agreement in
    model.agreements, `p` of the party in model.parties (joins on text are several
    times slower)."""
    def make() -> pd.DataFrame:
        pairs = participation_pairs(model)
        return pd.DataFrame({"a": model.agreements.index.get_indexer(pairs["agreement_id"]),
                             "p": model.parties.index.get_indexer(pairs["party_id"])})
    return _memo(model, "taking part", make)


def _agreement_counts(model: Model, key: np.ndarray, a: np.ndarray, n: int
                      ) -> dict[str, np.ndarray]:
    """Agreements, discussions and targets per key from distinct (key, agreement) pairs
    of positions; keys are 0 .. n - 1."""
    discussion = model.is_discussion.to_numpy(dtype=bool)[a]
    per_agreement = _targets_per_agreement(model).to_numpy()
    return {AGREEMENTS: np.bincount(key[~discussion], minlength=n),
            DISCUSSIONS: np.bincount(key[discussion], minlength=n),
            TARGETS: np.bincount(key[~discussion], weights=per_agreement[a[~discussion]],
                                 minlength=n).round().astype("int64")}


def _country_counts(model: Model, key: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    """Distinct countries (never "") of the parties at positions `p`, per key."""
    codes, labels = pd.factorize(model.parties["country"].to_numpy(dtype=object))
    code = codes[p]
    has_country = ~(labels == "")[code]
    k, _ = _distinct(key[has_country], code[has_country], len(labels))
    return np.bincount(k, minlength=n)


def _distinct(x: np.ndarray, y: np.ndarray, y_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (x, y) pairs of non-negative integers (y < y_size), in no particular
    order: as one integer each, hashed (several times faster than drop_duplicates)."""
    pair = pd.unique(x.astype(np.int64) * y_size + y)
    return pair // y_size, pair % y_size


def _expand(keys: np.ndarray, grouped: tuple[np.ndarray, np.ndarray, np.ndarray]
            ) -> tuple[np.ndarray, np.ndarray]:
    """For each key in `keys`, every value grouped under it: (position in `keys`
    repeated, value), like a merge on the key but on arrays (a key < 0 has none)."""
    values, starts, counts = grouped
    lengths = np.where(keys >= 0, counts[keys], 0)
    rows = np.repeat(np.arange(len(keys)), lengths)
    first = np.repeat(starts[keys] - np.cumsum(lengths) + lengths, lengths)
    return rows, values[first + np.arange(len(rows))]


def _grouped(keys: np.ndarray, values: np.ndarray, n: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`values` grouped by their key (0 .. n - 1): (the values in key order, where each
    key's start, how many), for _expand."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=n)
    return values[order], np.cumsum(counts) - counts, counts


def _parties_by_agreement(model: Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    def make() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pairs = taking_part(model)
        return _grouped(pairs["a"].to_numpy(), pairs["p"].to_numpy(), len(model.agreements))
    return _memo(model, "parties by agreement", make)


def _agreements_by_party(model: Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    def make() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pairs = taking_part(model)
        return _grouped(pairs["p"].to_numpy(), pairs["a"].to_numpy(), len(model.parties))
    return _memo(model, "agreements by party", make)


def _group_figures(model: Model, groups: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Per group: agreements, discussions, partners, partner countries and targets.

    `groups` holds (group, member) pairs: a party's group is itself, or itself and every
    party below it. A group's agreements are its members'; its partners are the other
    parties of those agreements and discussions, outside the group.
    """
    parties = model.parties.index
    group_codes, labels = pd.factorize(groups["group"])
    n = len(labels)
    member_g, member_p = group_codes, parties.get_indexer(groups["member"])
    rows, a = _expand(member_p, _agreements_by_party(model))
    g, a = _distinct(member_g[rows], a, len(model.agreements))
    counts = _agreement_counts(model, g, a, n)
    rows, p = _expand(a, _parties_by_agreement(model))
    g = g[rows]
    size = len(parties)
    members = np.unique(member_g.astype(np.int64) * size + member_p)
    pair = g.astype(np.int64) * size + p
    at = np.minimum(np.searchsorted(members, pair), len(members) - 1)
    outside = members[at] != pair if len(members) else np.ones(len(pair), bool)
    g, p = _distinct(g[outside], p[outside], size)
    table = pd.DataFrame({
        AGREEMENTS: counts[AGREEMENTS], DISCUSSIONS: counts[DISCUSSIONS],
        PARTNERS: np.bincount(g, minlength=n),
        PARTNER_COUNTRIES: _country_counts(model, g, p, n), TARGETS: counts[TARGETS],
    }, index=pd.Index(labels))
    return table.reindex(index).fillna(0).astype("int64")


def party_figures(model: Model) -> pd.DataFrame:
    """party_id -> Agreements, Discussions, Partners, Partner countries, Targets, each also
    '(rolled up)' over the parties below it. Every party, in the register's order."""
    def make() -> pd.DataFrame:
        index = model.parties.index
        itself = pd.DataFrame({"group": index, "member": index})
        rollup = model.party_rollup.rename(columns={"party_id": "group", "member_id": "member"})
        direct = _group_figures(model, itself, index)
        rolled = _group_figures(model, rollup, index)
        rolled.columns = [c + ROLLED_UP for c in rolled.columns]
        return pd.concat([direct, rolled], axis=1)
    return _memo(model, "party figures", make)


def country_figures(model: Model) -> pd.DataFrame:
    """Country code -> Agreements, Discussions, Partners, Partner countries, Targets of the
    parties from that country taking part (its partners: the parties from elsewhere)."""
    def make() -> pd.DataFrame:
        p = model.parties
        codes = [country_code(k, c) for k, c in zip(p["kind"], p["country"], strict=True)]
        groups = pd.DataFrame({"group": codes, "member": p.index})
        return _group_figures(model, groups, pd.Index(sorted(set(codes))))
    return _memo(model, "country figures", make)


def _scope_figures(model: Model, pairs: pd.DataFrame, key: str, index: Iterable[str]
                   ) -> pd.DataFrame:
    """key -> Agreements, Discussions, Parties taking part, Countries taking part, Targets
    from (key, agreement_id) pairs (a theme's, the whole data set's)."""
    key_codes, labels = pd.factorize(pairs[key])
    n = len(labels)
    a = model.agreements.index.get_indexer(pairs["agreement_id"])
    known = a >= 0
    k, a = _distinct(key_codes[known], a[known], len(model.agreements))
    counts = _agreement_counts(model, k, a, n)
    rows, p = _expand(a, _parties_by_agreement(model))
    k, p = _distinct(k[rows], p, len(model.parties))
    table = pd.DataFrame({
        AGREEMENTS: counts[AGREEMENTS], DISCUSSIONS: counts[DISCUSSIONS],
        PARTIES_TAKING_PART: np.bincount(k, minlength=n),
        COUNTRIES: _country_counts(model, k, p, n), TARGETS: counts[TARGETS],
    }, index=pd.Index(labels))
    return table.reindex(list(index)).fillna(0).astype("int64")


def theme_figures(model: Model) -> pd.DataFrame:
    """theme_id -> the figures of everything under the theme or a finer theme below it."""
    return _memo(model, "theme figures", lambda: _scope_figures(
        model, model.agreement_themes, "theme_id", model.theme_order))


def overview_figures(model: Model) -> tuple[Figure, ...]:
    """The data set's key figures, in the order readers see them."""
    def make() -> tuple[Figure, ...]:
        everything = pd.DataFrame({"all": "all", "agreement_id": model.agreements.index})
        row = _scope_figures(model, everything, "all", ["all"]).iloc[0]
        return (
            Figure(AGREEMENTS, int(row[AGREEMENTS]), "records of every kind but discussion"),
            Figure(DISCUSSIONS, int(row[DISCUSSIONS]), "recorded, not counted as agreements"),
            Figure(PARTIES_TAKING_PART, int(row[PARTIES_TAKING_PART]),
                   "with a role in an agreement or discussion"),
            Figure(PARTIES_REGISTERED, len(model.parties), "every party of the data"),
            Figure(COUNTRIES, int(row[COUNTRIES]), "countries of the parties taking part"),
            Figure(TARGETS, int(row[TARGETS]), "targets of agreements"),
            Figure(TARGETS_WITH_NUMBER, _numbered_of_agreements(model),
                   "targets whose value is given"),
        )
    return _memo(model, "overview figures", make)


def _numbered_of_agreements(model: Model) -> int:
    t = model.targets
    of_agreements = ~t["agreement_id"].map(model.is_discussion).astype(bool)
    return int((t["value"].notna() & of_agreements).sum())


def agreement_targets(model: Model) -> pd.DataFrame:
    """The targets of agreements (not of discussions): what every total is taken over."""
    t = model.targets
    return t[~t["agreement_id"].map(model.is_discussion).astype(bool)]


def compute_all(model: Model) -> None:
    """Every table of figures, once: before the workbook writer is forked, so that it and
    the briefings share them instead of each computing its own."""
    overview_figures(model)
    party_figures(model)
    theme_figures(model)
    country_figures(model)


def figures_sentence(values: dict[str, int]) -> str:
    """The data set's figures in words, for the e-mails and the command's closing line:
    '7 agreements, 1 discussion, 19 parties taking part (21 in the register), 8 countries
    taking part, 1 target (1 with a number)'."""
    def get(label: str) -> int:
        return int(values.get(label, 0))

    return (f"{plural(get(AGREEMENTS), 'agreement')}, "
            f"{plural(get(DISCUSSIONS), 'discussion')}, "
            f"{plural(get(PARTIES_TAKING_PART), 'party', 'parties')} taking part "
            f"({get(PARTIES_REGISTERED):,} in the register), "
            f"{plural(get(COUNTRIES), 'country', 'countries')} taking part, "
            f"{plural(get(TARGETS), 'target')} ({get(TARGETS_WITH_NUMBER):,} with a number)")


def status_phrase(statuses: Iterable[str]) -> str:
    """'1 signed, 1 open to join' in the format's order of statuses."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return status_counts_phrase(counts)


def status_counts_phrase(counts: Mapping[str, int]) -> str:
    """status_phrase of the statuses counted: status -> how many."""
    return ", ".join(f"{counts[s]:,} {STATUS_WORDS.get(s, s)}" for s in STATUS_WORDS
                     if counts.get(s))
