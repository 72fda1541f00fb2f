"""Model -> the content of each briefing (pure data, picklable, no I/O).

A `Briefing` holds exactly what its PDF shows, so its data version (a hash of
it) changes exactly when the PDF would. Renderers never read sources.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, cached_property

import numpy as np
import pandas as pd

from .dataformat import COMPANY_KINDS
from .figures import (
    AGREEMENTS,
    COUNTRIES,
    DISCUSSIONS,
    PARTIES_TAKING_PART,
    PARTNER_COUNTRIES,
    PARTNERS,
    ROLLED_UP,
    TARGETS,
    TARGETS_LISTED,
    country_figures,
    overview_figures,
    party_figures,
    plural,
    status_counts_phrase,
    taking_part,
    target_sentence,
    targets_sentence,
    theme_figures,
)
from .model import DISCUSSION, Model
from .summaries import country_name, party_country_code

SCOPES = ("overview", "ministry", "company", "party", "country", "theme")
ORDER = "Newest first, undated last; discussions stand among the agreements by date."
# What a briefing shows of its agreements (the PDF and so the content): more than
# LARGE_BRIEFING agreements get cards for the CARDS_IN_LARGE most recent and a table of
# the TABLE_ROWS_MAX most recent; the workbook has them all. Cards are most of a
# briefing's pages; past a dozen agreements a reader scans the table.
LARGE_BRIEFING = 12
CARDS_IN_LARGE = 5
TABLE_ROWS_MAX = 500  # about 17 pages
# Bumped whenever the content's format changes; with the code that builds and draws
# briefings (drawing_version) it is part of every data version and of content_key
CONTENT_FORMAT = "3"


@cache
def drawing_version() -> str:
    """What decides a briefing's bytes besides its data: the code that builds and draws
    it and the version of reportlab. Any change to them renders every briefing again
    (a new sentence or layout is never kept out of a routine run's files)."""
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    here = Path(__file__).parent
    code = hashlib.sha256(CONTENT_FORMAT.encode())
    for path in (here / "briefings.py", here / "figures.py", *(
            here / "render" / name for name in ("pdf.py", "fonts.py", "charts.py"))):
        try:
            code.update(path.read_bytes())
        except OSError:  # not installed as files: the format alone
            code.update(b"?")
    try:
        code.update(version("reportlab").encode())
    except PackageNotFoundError:
        code.update(b"?")
    return code.hexdigest()[:16]


@dataclass(frozen=True)
class BriefingParty:
    party_id: str
    name: str  # display name, with short name when there is one
    kind: str
    country: str  # ISO code, "" when none
    country_name: str  # e.g. "Azerbaijan", "International organisations"
    role: str
    certainty: str  # stated | inferred
    note: str
    via: str = ""  # in a party's briefing: the member below it that took part, if not itself


@dataclass(frozen=True)
class BriefingTarget:
    description: str
    metric: str
    value: float | None
    unit: str
    target_year: int | None

    @property
    def text(self) -> str:
        """e.g. '40 % localization rate by 2030', or the description when no value."""
        return target_sentence(self.description, self.metric, self.value, self.unit,
                               self.target_year)


@dataclass(frozen=True)
class BriefingSource:
    publisher: str
    title: str
    url: str  # validated http(s) or ""
    published_on: str


@dataclass(frozen=True)
class BriefingAgreement:
    agreement_id: str
    title: str
    kind: str
    signed_on: str
    status: str
    event: str
    location: str
    summary: str
    themes: tuple[str, ...]  # theme names as curated on the agreement
    parties: tuple[BriefingParty, ...]
    targets: tuple[BriefingTarget, ...]
    sources: tuple[BriefingSource, ...]

    @cached_property
    def digest(self) -> str:
        """Hash of everything a briefing shows of this agreement (see Briefing.version)."""
        nested = ("parties", "targets", "sources")
        plain = tuple(getattr(self, name) for name in _field_names(BriefingAgreement)
                      if name not in nested)
        payload = repr((plain, tuple(map(_fields_getter(BriefingParty), self.parties)),
                        tuple(map(_fields_getter(BriefingTarget), self.targets)),
                        tuple(map(_fields_getter(BriefingSource), self.sources))))
        return hashlib.sha256(payload.encode()).hexdigest()

    @property
    def is_discussion(self) -> bool:
        return self.kind == DISCUSSION


@dataclass(frozen=True)
class Briefing:
    """Everything one briefing shows. `name` is its file stem (validated ids only)."""

    name: str
    scope: str  # overview | ministry | company | theme
    subject_id: str  # party_id or theme_id; "" for the overview
    subject: str  # display name; "" for the overview
    title: str
    event: str  # e.g. "COP29", "" when the agreements span several events
    as_of: str  # YYYY-MM-DD
    dataset: str  # e.g. "COP29 agreements"
    members: tuple[str, ...]  # for a party: itself and the parties below it (display names)
    agreements: tuple[BriefingAgreement, ...]
    figures: tuple[tuple[str, str], ...]  # key figures (label, value)
    summary: tuple[str, ...]  # executive summary, one plain sentence each
    by_theme: tuple[tuple[str, int], ...]  # top-level theme name -> agreements
    by_kind: tuple[tuple[str, int], ...]
    by_country: tuple[tuple[str, int], ...]  # partner country name -> agreements
    partners: tuple[tuple[str, int], ...]  # partner display name -> agreements (parties only)
    # finer theme -> agreements under it (ByTheme's figure): a theme's own finer themes; in
    # the overview each top-level theme's largest, as "Top-level: finer"
    subthemes: tuple[tuple[str, int], ...] = ()
    changes: tuple[str, ...] | None = None  # None: no earlier run to compare with
    keywords: tuple[str, ...] = field(default_factory=tuple)
    # `agreements` holds what the briefing lists (the TABLE_ROWS_MAX most recent); these
    # say what it covers in all. -1 / None: the listed agreements are all of them
    count: int = -1  # agreements and discussions it covers
    with_discussions: bool | None = None  # whether any of them is a discussion
    recent: tuple[BriefingAgreement, ...] | None = None  # its cards when it is large

    @property
    def total(self) -> int:
        """How many agreements and discussions the briefing covers (it lists at most
        TABLE_ROWS_MAX of them)."""
        return len(self.agreements) if self.count < 0 else self.count

    @property
    def has_discussions(self) -> bool:
        if self.with_discussions is None:
            return any(a.is_discussion for a in self.agreements)
        return self.with_discussions

    @property
    def cards(self) -> tuple[BriefingAgreement, ...]:
        """The agreements shown as cards: all of them, or in a large briefing the
        CARDS_IN_LARGE most recent signed ones (any, when none is signed)."""
        if self.recent is not None:
            return self.recent
        if self.total <= LARGE_BRIEFING:
            return self.agreements
        signed = [a for a in self.agreements if not a.is_discussion] or self.agreements
        return tuple(signed[:CARDS_IN_LARGE])

    @property
    def filename(self) -> str:
        return f"briefings/{self.name}.pdf"

    @cached_property
    def version(self) -> str:
        """Short hash of exactly the data this briefing shows.

        The dataclasses' own repr spells out every field, nested ones included, the
        same way in every process (strings, numbers and None only). Agreements
        contribute their own cached digest: they are shared by many briefings.
        """
        head = repr(dataclasses.replace(self, agreements=(), recent=None))
        payload = "\n".join([drawing_version(), head, *(a.digest for a in self.agreements),
                             "cards", *(a.digest for a in self.cards)])
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@cache
def _fields_getter(cls: type) -> Callable[[object], object]:
    """A function giving an instance's field values (a tuple: these have several fields)."""
    return operator.attrgetter(*_field_names(cls))


def single_event(model: Model) -> str:
    """The event every dated agreement shares (e.g. "COP29"), or "" when they differ."""
    events = {e for e in model.agreements["event"] if e}
    return next(iter(events)) if len(events) == 1 else ""


def dataset_name(model: Model) -> str:
    """How readers call the data set: "COP29 agreements", or "Agreements"."""
    return _dataset_of(single_event(model))


def _dataset_of(event: str) -> str:
    return f"{event} agreements" if event else "Agreements"


def join_names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


class _Builder:
    """Builds briefings from the model, in work proportional to what they show.

    Agreements are known by their position in model.agreements (that of the data's
    rows). What a briefing sums up of all its agreements (counts, partners, countries,
    themes, targets) is counted with numpy over those positions; the look-ups are made
    the first time a briefing needs them, and an agreement's content the first time a
    briefing lists it: a run building a few briefings builds few agreements.
    """

    def __init__(self, model: Model, as_of: str) -> None:
        self.m = model
        self.as_of = as_of
        self.event = single_event(model)
        self.dataset = _dataset_of(self.event)
        self.display = model.display_names
        themes = model.data.themes
        self.theme_name = dict(zip(themes["theme_id"].tolist(), themes["name"].tolist(),
                                   strict=True))
        self.base: dict[int, BriefingAgreement] = {}
        self._party_cache: dict[tuple[str, str, str, str], BriefingParty] = {}
        self._sources: dict[str, BriefingSource] | None = None
        self._targets: dict[int, BriefingTarget] = {}

    # ------------------------------------------------------------ look-ups, made once
    @cached_property
    def columns(self) -> dict[str, np.ndarray]:
        """The agreements' columns a briefing shows, by position (no copy)."""
        a = self.m.data.agreements
        return {c: a[c].to_numpy(dtype=object) for c in (
            "agreement_id", "title", "kind", "signed_on", "status", "event", "location",
            "summary", "themes", "source_ids")}

    @cached_property
    def discussion(self) -> np.ndarray:
        """Position -> True for a discussion."""
        return self.columns["kind"] == DISCUSSION

    @cached_property
    def ranked(self) -> tuple[np.ndarray, np.ndarray]:
        """ORDER, the one order everywhere: the positions newest first, undated last,
        discussions among the others by date, then by title and id; and each position's
        rank in it (a briefing sorts its ranks, plain integers)."""
        columns = self.columns
        signed_on, title = columns["signed_on"], columns["title"]
        # codes in the order of the values (pandas sorts the distinct strings as Python does)
        date_code = pd.factorize(signed_on, sort=True)[0]
        title_code = pd.factorize(title, sort=True)[0]
        order = np.lexsort((title_code, -date_code, signed_on == ""))
        # agreements of the same date and title, by id
        tied = ((date_code[order[1:]] == date_code[order[:-1]])
                & (title_code[order[1:]] == title_code[order[:-1]]))
        if tied.any():
            ties = order[np.flatnonzero(np.concatenate(([False], tied)) | np.concatenate((
                tied, [False])))]
            id_code = np.zeros(len(order), dtype=np.int64)
            id_code[ties] = pd.factorize(columns["agreement_id"][ties], sort=True)[0]
            order = np.lexsort((id_code, title_code, -date_code, signed_on == ""))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        return order, rank

    @cached_property
    def taking_part(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                   list[str]]:
        """The distinct (agreement, party) pairs as positions, grouped by agreement (see
        _grouped), and each party's country as a code into the list of countries ("" among
        them)."""
        pairs = taking_part(self.m)
        a = pairs["a"].to_numpy()
        country_code, countries = pd.factorize(self.m.parties["country"].to_numpy(dtype=object))
        return (a, pairs["p"].to_numpy(), *self._grouped(a), country_code, list(countries))

    @cached_property
    def party_ids(self) -> list[str]:
        """Party position (in model.parties) -> its id."""
        return self.m.parties.index.tolist()

    @cached_property
    def party_names(self) -> tuple[np.ndarray, np.ndarray]:
        """Party position -> its display name, and where that name sorts among them."""
        names = np.array([self.display[p] for p in self.party_ids], dtype=object)
        return names, pd.factorize(names, sort=True)[0]

    @cached_property
    def party_position(self) -> dict[str, int]:
        return {pid: n for n, pid in enumerate(self.party_ids)}

    @cached_property
    def party_kind_country(self) -> dict[str, tuple[str, str]]:
        parties = self.m.data.parties
        return dict(zip(parties["party_id"].tolist(), zip(
            parties["kind"].tolist(), parties["country"].tolist(), strict=True), strict=True))

    @cached_property
    def inferred(self) -> np.ndarray:
        """Position -> how many of its participations are inferred."""
        where, certainty = self.participation[2], self.participation[3][2]
        return np.bincount(where[certainty == "inferred"], minlength=len(self.discussion))

    @cached_property
    def participation(self) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                     tuple[np.ndarray, ...]]:
        """Participation rows grouped by agreement (see _grouped), each row's agreement
        position, and the columns a briefing shows."""
        part = self.m.participation
        where = self._positions_of(part["agreement_id"])
        return *self._grouped(where), where, tuple(part[c].to_numpy(dtype=object) for c in (
            "party_id", "role", "certainty", "note"))

    @cached_property
    def targets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each target row's agreement position, and the rows grouped by agreement (see
        participation)."""
        where = self._positions_of(self.m.targets["agreement_id"])
        return where, *self._grouped(where)

    def target(self, row: int) -> BriefingTarget:
        """The target of this row of the targets as a briefing shows it, built once."""
        built = self._targets.get(row)
        if built is None:
            desc, metric, value, unit, year = (column[row] for column in self.target_columns)
            built = self._targets[row] = BriefingTarget(
                desc, metric, None if pd.isna(value) else float(value), unit,
                None if pd.isna(year) else int(year))
        return built

    @cached_property
    def target_columns(self) -> tuple[list, ...]:
        t = self.m.targets
        return tuple(t[c].tolist() for c in ("description", "metric", "value", "unit",
                                             "target_year"))

    @cached_property
    def top_themes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """The agreements' (expanded) themes that are top-level ones: the rows grouped by
        agreement (see _grouped), each row's top-level theme name as a code into the list
        of names."""
        at = self.m.agreement_themes
        names = [self.theme_name[t] for t in self.m.top_themes]
        name_code, distinct = pd.factorize(pd.Series(names, dtype=object))
        code_of = dict(zip(self.m.top_themes, name_code.tolist(), strict=True))
        theme, themes = pd.factorize(at["theme_id"])
        codes = np.array([code_of.get(t, -1) for t in themes], dtype=np.int64)[theme]
        top = codes >= 0
        return (*self._grouped(self._positions_of(at["agreement_id"][top])), codes[top],
                list(distinct))

    @cached_property
    def theme_rows(self) -> dict[str, dict[str, int]]:
        return theme_figures(self.m).to_dict("index")

    @cached_property
    def country_rows(self) -> dict[str, dict[str, int]]:
        return country_figures(self.m).to_dict("index")

    @cached_property
    def party_rows(self) -> tuple[list[str], np.ndarray]:
        """The parties' figures: their labels, and a row per party position."""
        frame = party_figures(self.m)
        return list(frame.columns), frame.to_numpy()

    @cached_property
    def kinds(self) -> tuple[np.ndarray, list[str]]:
        code, distinct = pd.factorize(self.columns["kind"])
        return code, list(distinct)

    @cached_property
    def statuses(self) -> tuple[np.ndarray, list[str]]:
        code, distinct = pd.factorize(self.columns["status"])
        return code, list(distinct)

    def _positions_of(self, ids: Iterable[str]) -> np.ndarray:
        """The positions of these agreement ids (KeyError for one not in the data)."""
        ids = ids if isinstance(ids, pd.Series) else list(ids)
        where = self.m.agreements.index.get_indexer(ids)
        if len(where) and where.min() < 0:
            raise KeyError(next(a for a, n in zip(ids, where, strict=True) if n < 0))
        return where

    def _grouped(self, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows grouped by the agreement position `where` gives each: rows[starts[n]:
        starts[n + 1]] are agreement n's, in their order."""
        starts = np.zeros(len(self.discussion) + 1, dtype=np.int64)
        np.cumsum(np.bincount(where, minlength=len(self.discussion)), out=starts[1:])
        return np.argsort(where, kind="stable"), starts

    def source(self, source_id: str) -> BriefingSource:
        if self._sources is None:
            self._sources = {r["source_id"]: BriefingSource(r["publisher"], r["title"], r["url"],
                                                            r["published_on"])
                             for r in self.m.data.sources.to_dict("records")}
        return self._sources[source_id]

    # ------------------------------------------------------------ agreements
    def base_agreement(self, row: int) -> BriefingAgreement:
        """The agreement at this position as plain values, built once."""
        built = self.base.get(row)
        if built is not None:
            return built
        columns = self.columns
        rows, starts, _, (party, role, certainty, note) = self.participation
        members = []
        for n in rows[starts[row]:starts[row + 1]].tolist():
            key = (party[n], role[n], certainty[n], note[n])
            shown = self._party_cache.get(key)
            if shown is None:
                pid = key[0]
                kind, code = self.party_kind_country[pid]
                shown = self._party_cache[key] = BriefingParty(
                    pid, self.display[pid], kind, code,
                    country_name(party_country_code(kind, code)), *key[1:])
            members.append(shown)
        _, target_rows, target_starts = self.targets
        built = self.base[row] = BriefingAgreement(
            columns["agreement_id"][row], columns["title"][row],
            columns["kind"][row], columns["signed_on"][row], columns["status"][row],
            columns["event"][row], columns["location"][row], columns["summary"][row],
            tuple(self.theme_name[t] for t in columns["themes"][row]),
            tuple(members),
            tuple(map(self.target,
                      target_rows[target_starts[row]:target_starts[row + 1]].tolist())),
            tuple(self.source(sid) for sid in columns["source_ids"][row]))
        return built

    def agreement(self, row: int, members: frozenset[str] | None,
                  subject_id: str) -> BriefingAgreement:
        """The agreement as a briefing shows it; in a party's, members below it marked `via`."""
        base = self.base_agreement(row)
        if members is None or len(members) == 1:
            return base
        if not any(p.party_id in members and p.party_id != subject_id for p in base.parties):
            return base
        parties = tuple(dataclasses.replace(p, via=p.name)
                        if p.party_id in members and p.party_id != subject_id else p
                        for p in base.parties)
        return dataclasses.replace(base, parties=parties)

    # ------------------------------------------------------------ briefings
    def build(self, plan: Plan, changes: tuple[str, ...] | None = None) -> Briefing:
        m = self.m
        scope, subject_id, members = plan.scope, plan.subject_id, plan.members
        subject = ""
        if scope in ("ministry", "company", "party"):
            subject = self.display[subject_id]
        elif scope == "country":
            subject = country_name(subject_id.upper())
        elif scope == "theme":
            subject = self.theme_name[subject_id]
        ranked, rank = self.ranked
        covered = plan.positions
        order = ranked[np.sort(rank[covered])]
        is_discussion = self.discussion[order]
        signed, discussions = order[~is_discussion], order[is_discussion]
        # a country's parties are told by their country, not marked one by one
        marked = members if scope != "country" else None
        listed = tuple(self.agreement(a, marked, subject_id)
                       for a in order[:TABLE_ROWS_MAX].tolist())
        recent = None
        if len(order) > LARGE_BRIEFING:
            recent = tuple(self.agreement(a, marked, subject_id)
                           for a in (signed if len(signed) else order)[:CARDS_IN_LARGE].tolist())
        # charts count agreements only (discussions have their own figure); partners are
        # named from agreements and discussions alike
        pair_a, pair_p, pair_rows, pair_starts, party_code, codes = self.taking_part
        rows = _gather(pair_rows, pair_starts, covered)
        pair_a, pair_p = pair_a[rows], pair_p[rows]
        if members is not None:
            mine = np.zeros(len(m.parties), dtype=bool)
            mine[[n for p in members if (n := self.party_position.get(p)) is not None]] = True
            outside = ~mine[pair_p]
            pair_a, pair_p = pair_a[outside], pair_p[outside]
        of_agreement = ~self.discussion[pair_a]
        partner_agreements = np.bincount(pair_p[of_agreement], minlength=len(m.parties))
        # the chart's order (agreements, then name); partners of discussions only come last
        names, name_rank = self.party_names
        present = np.flatnonzero(np.bincount(pair_p, minlength=len(names)))
        n_agreements = partner_agreements[present]
        present = present[np.lexsort((name_rank[present], -n_agreements))]
        partners = list(zip(names[present].tolist(), partner_agreements[present].tolist(),
                            strict=True))
        # agreements per partner country (each agreement once per country)
        n_codes = max(len(codes), 1)
        distinct = _distinct(pair_a[of_agreement] * n_codes + party_code[pair_p[of_agreement]])
        code_count = np.bincount(distinct % n_codes, minlength=len(codes))
        country_count: Counter[str] = Counter()
        for code, n in zip(codes, code_count.tolist(), strict=True):
            if code and n:
                country_count[country_name(code)] += n
        theme_count = self.theme_count(signed)
        by_theme = tuple((self.theme_name[t], theme_count[self.theme_name[t]])
                         for t in m.top_themes)
        subthemes = self.subthemes(scope, subject_id)
        kind_code, kind_names = self.kinds
        kind_count = {kind_names[k]: n for k, n in enumerate(
            np.bincount(kind_code[order], minlength=len(kind_names)).tolist()) if n}
        title_scope = subject if scope != "overview" else self.dataset
        what = "Agreements and discussions" if len(discussions) else "Agreements"
        at = f" at {self.event}" if self.event else ""
        title = (f"{subject}: {what.lower()}{at}" if scope != "overview" else f"{what}{at}")
        figures = self.figures(scope, subject_id, members)
        inferred = int(self.inferred[covered].sum())
        summary = self.sentences(scope, subject, signed, discussions, partners, figures,
                                 theme_count, _gather(*self.targets[1:], signed), members,
                                 subject_id, inferred)
        if subthemes and (len(signed) or len(discussions)):
            if scope == "theme":
                text = "Finer themes, agreements under each: " + "; ".join(
                    f"{theme} ({n:,})" for theme, n in subthemes) + "."
            else:  # grouped under their top-level theme
                groups: dict[str, list[str]] = {}
                for theme, n in subthemes:
                    top, _, finer = theme.partition(": ")
                    groups.setdefault(top, []).append(f"{finer} ({n:,})")
                text = "Largest finer themes, agreements under each: " + "; ".join(
                    f"{top}: {', '.join(names)}" for top, names in groups.items()) + "."
            summary = (*summary[:2], text, *summary[2:])
        members_names = tuple(self.display[p] for p in sorted(members or ())
                              if p != subject_id)
        return Briefing(
            name=plan.name, scope=scope, subject_id=subject_id, subject=subject, title=title,
            event=self.event, as_of=self.as_of, dataset=self.dataset, members=members_names,
            agreements=listed, figures=figures, summary=summary, by_theme=by_theme,
            subthemes=subthemes,
            by_kind=tuple(sorted(kind_count.items(), key=lambda kv: (-kv[1], kv[0]))),
            by_country=tuple(sorted(country_count.items(), key=lambda kv: (-kv[1], kv[0]))),
            partners=tuple(pair for pair in partners if pair[1]),
            changes=changes,
            keywords=tuple(dict.fromkeys(filter(None, (self.event, scope, subject,
                                                       title_scope)))),
            count=len(order), with_discussions=bool(len(discussions)), recent=recent,
        )

    def theme_count(self, signed: np.ndarray) -> Counter[str]:
        """The agreements (positions, in ORDER) under each top-level theme, by name; the
        names in the order the agreements first have them (a Counter's order, the
        summary's on ties)."""
        rows, starts, name_code, names = self.top_themes
        met = name_code[_gather(rows, starts, signed)]
        count = np.bincount(met, minlength=len(names))
        first = np.full(len(names), len(met), dtype=np.int64)
        np.minimum.at(first, met, np.arange(len(met)))
        return Counter({names[n]: int(count[n])
                        for n in sorted(np.flatnonzero(count).tolist(), key=first.__getitem__)})

    def subthemes(self, scope: str, subject_id: str) -> tuple[tuple[str, int], ...]:
        """The finer themes a theme briefing shows (all, in tree order, with agreements), or
        the overview's largest three under each top-level theme."""
        m, rows = self.m, self.theme_rows
        if scope == "theme":
            return tuple((self.theme_name[t], int(rows[t][AGREEMENTS]))
                         for t in m.theme_order
                         if t != subject_id and m.top_theme_of(t) == subject_id
                         and rows[t][AGREEMENTS])
        if scope != "overview":
            return ()
        out: list[tuple[str, int]] = []
        for top in m.top_themes:
            finer = [t for t in m.theme_order if t != top and m.top_theme_of(t) == top
                     and rows[t][AGREEMENTS]]
            finer.sort(key=lambda t: -rows[t][AGREEMENTS])  # stable: tree order on ties
            out += [(f"{self.theme_name[top]}: {self.theme_name[t]}",
                     int(rows[t][AGREEMENTS])) for t in finer[:3]]
        return tuple(out)

    def figures(self, scope: str, subject_id: str, members: frozenset[str] | None
                ) -> tuple[tuple[str, str], ...]:
        """The key figures, taken from figures.py under the labels the workbook uses."""
        if scope == "overview":
            shown = (AGREEMENTS, DISCUSSIONS, PARTIES_TAKING_PART, COUNTRIES, TARGETS)
            values = {f.label: f.value for f in overview_figures(self.m)}
            return tuple((label, f"{values[label]:,}") for label in shown)
        if scope == "theme":
            row = self.theme_rows[subject_id]
            return tuple((label, f"{row[label]:,}") for label in (
                AGREEMENTS, DISCUSSIONS, PARTIES_TAKING_PART, COUNTRIES, TARGETS))
        if scope == "country":
            row = self.country_rows[subject_id.upper()]
            return tuple((label, f"{row[label]:,}") for label in (
                AGREEMENTS, DISCUSSIONS, PARTNERS, PARTNER_COUNTRIES, TARGETS))
        labels, table = self.party_rows
        row = dict(zip(labels, table[self.party_position[subject_id]].tolist(), strict=True))
        suffix = ROLLED_UP if members is not None and len(members) > 1 else ""
        return tuple((label + suffix, f"{row[label + suffix]:,}") for label in (
            AGREEMENTS, DISCUSSIONS, PARTNERS, PARTNER_COUNTRIES, TARGETS))

    def sentences(self, scope: str, subject: str, signed: np.ndarray, discussions: np.ndarray,
                  partners: list[tuple[str, int]], figures: tuple[tuple[str, str], ...],
                  themes: Counter[str], targets: np.ndarray,
                  members: frozenset[str] | None, subject_id: str,
                  inferred: int) -> tuple[str, ...]:
        """The executive summary, with the briefing's own key figures (never recounted).
        `signed` and `discussions` are agreement positions, in the briefing's order;
        `targets` the target rows of the signed ones, in that order too."""
        value = {label.removesuffix(ROLLED_UP): text for label, text in figures}
        if not len(signed) and not len(discussions):  # an empty briefing says so, and only that
            return ((f"No agreement in this data set is under {subject}." if scope == "theme"
                     else "This data set holds no agreement." if scope == "overview"
                     else f"No agreement in this data set has a party from {subject}."
                     if scope == "country"
                     else f"{subject} takes part in no agreement in this data set."),)
        at = f" at {self.event}" if self.event else ""
        counted = plural(len(signed), "agreement")
        if len(discussions):
            counted += f" and {plural(len(discussions), 'discussion')}"
        status_code, status_names = self.statuses
        statuses = status_counts_phrase(dict(zip(status_names, np.bincount(
            status_code[signed], minlength=len(status_names)).tolist(), strict=True)))
        status_note = f" ({statuses})" if len(signed) else ""
        out: list[str] = []
        if scope in ("overview", "theme"):
            parties = _count_words(value[PARTIES_TAKING_PART], "party", "parties")
            countries = _count_words(value[COUNTRIES], "country", "countries")
            lead = ("This briefing covers" if scope == "overview"
                    else f"Under the theme {subject}, this briefing covers")
            if len(signed) or len(discussions):
                out.append(f"{lead} {counted} recorded{at}{status_note}, with {parties} "
                           f"taking part from {countries}.")
            else:
                out.append(f"No agreement or discussion{at} is recorded under the theme "
                           f"{subject}." if scope == "theme" else
                           f"No agreement or discussion{at} is recorded.")
            if len(discussions) and scope == "theme":
                titles = join_names([f"\u201c{t}\u201d"
                                     for t in self.columns["title"][discussions[:3]]])
                others = f" and {len(discussions) - 3:,} more" if len(discussions) > 3 else ""
                out.append(f"Discussions under it: {titles}{others}.")
        else:
            below = sorted(self.display[p] for p in members or () if p != subject_id)
            if scope == "country":
                out.append(f"{plural(len(members or ()), 'party', 'parties')} from {subject} "
                           f"took part in {counted}{at}{status_note}.")
            elif not len(signed) and not len(discussions):
                out.append(f"{subject} took part in no agreement recorded{at}.")
            else:
                sentence = f"{subject} took part in {counted}{at}{status_note}"
                if below:
                    sentence += f", counting the parties below it: {join_names(below)}"
                out.append(sentence + ".")
            n_partners = len(partners)
            if n_partners == 1:
                out.append(f"Its partner is {partners[0][0]}.")
            elif partners:
                top = [name for name, _ in partners[:3]]
                more = n_partners - len(top)
                names = f"{', '.join(top)} and {plural(more, 'other')}" if more else join_names(top)
                countries = _count_words(value[PARTNER_COUNTRIES], "country", "countries")
                out.append(f"Its partners are {plural(n_partners, 'party', 'parties')} from "
                           f"{countries}: {names}.")
        named = [f"{name} ({n:,})" for name, n in themes.most_common() if n]
        if named and scope != "theme":
            out.append(f"Agreements by theme: {join_names(named)}.")
        if len(targets):
            listed = ([self.target(n).text for n in targets.tolist()]
                      if len(targets) <= TARGETS_LISTED else [])
            t = self.m.targets
            out.append(("Target: " if len(targets) == 1 else "Targets: ") + targets_sentence(
                t["value"].to_numpy()[targets].tolist(),
                t["unit"].to_numpy(dtype=object)[targets].tolist(), listed))
        else:
            out.append("No target is recorded.")
        open_ = signed[self.columns["status"][signed] == "open"]
        if len(open_):
            noun = ("declaration" if (self.columns["kind"][open_] == "declaration").all()
                    else "agreement")
            out.append(f"{plural(len(open_), noun)} "
                       f"{'is' if len(open_) == 1 else 'are'} open for others to join.")
        if inferred:
            out.append(f"{plural(inferred, 'participation')} {'is' if inferred == 1 else 'are'} "
                       "inferred from context rather than stated by the source, and marked so.")
        return tuple(out)


def _count_words(text: str, one: str, many: str) -> str:
    return f"{text} {one if text == '1' else many}"


def _gather(rows: np.ndarray, starts: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The rows of these agreements (see _Builder._grouped), agreement by agreement in
    the order given, each one's in its own order."""
    begin = starts[positions]
    length = starts[positions + 1] - begin
    ends = np.cumsum(length)
    return rows[np.repeat(begin - ends + length, length) + np.arange(ends[-1] if len(ends) else 0)]


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct integers, in order (numpy's unique is several times slower)."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values




@dataclass(frozen=True, eq=False)
class Plan:
    """A briefing the run makes, known before its content is built: which agreements it
    covers and, for a party or a country, which parties count as its own.

    The agreements are their positions in model.agreements, ascending (a routine run
    plans thousands of briefings; sets of their ids cost more than the rest of planning).
    """

    name: str
    scope: str
    subject_id: str
    positions: np.ndarray = field(repr=False)
    members: frozenset[str] | None  # a party and the parties below it; a country's parties
    ids: np.ndarray = field(repr=False)  # model.agreements' ids, by position (shared)

    @cached_property
    def agreement_ids(self) -> frozenset[str]:
        """The ids of the agreements it covers."""
        return frozenset(self.ids[self.positions])

    def covers(self, positions: np.ndarray) -> np.ndarray:
        """Whether it covers each of these agreement positions."""
        if not len(self.positions):
            return np.zeros(len(positions), dtype=bool)
        at = np.minimum(np.searchsorted(self.positions, positions), len(self.positions) - 1)
        return self.positions[at] == positions


def plan_briefings(model: Model, scopes: tuple[str, ...] = SCOPES) -> list[Plan]:
    """Every briefing of the run, in the order the run lists them: the overview; one per
    party taking part in something, itself or through a party below it (ministry,
    company, or party for every other kind); one per country with a party in some
    agreement; one per top-level theme."""
    out: list[Plan] = []
    ids = model.agreements.index.to_numpy(dtype=object)
    if "overview" in scopes:
        out.append(Plan("overview", "overview", "", np.arange(len(ids)), None, ids))
    # each party's agreements: the distinct (agreement, party) pairs as positions, by party
    pairs = taking_part(model)
    party = pairs["p"].to_numpy()
    by_party = pairs["a"].to_numpy()[np.argsort(party, kind="stable")]
    starts = np.zeros(len(model.parties) + 1, dtype=np.int64)
    np.cumsum(np.bincount(party, minlength=len(model.parties)), out=starts[1:])
    bounds = starts.tolist()
    party_ids = model.parties.index
    position = {pid: n for n, pid in enumerate(party_ids)}
    takes_part = (starts[1:] > starts[:-1]).tolist()

    def agreements_of(parties: Iterable[int | None]) -> np.ndarray:
        """The agreements of these parties (positions; None for one not in the register)."""
        parts = [by_party[bounds[p]:bounds[p + 1]] for p in parties
                 if p is not None and takes_part[p]]
        if len(parts) == 1:
            return np.sort(parts[0])
        return _distinct(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    kinds = model.parties["kind"]
    for scope in ("ministry", "company", "party"):
        if scope not in scopes:
            continue
        for pid in party_ids[kinds.map(party_scope) == scope]:
            members = frozenset({pid, *model.parties_below(pid)})
            covered = agreements_of(position.get(p) for p in members)
            if len(covered):
                out.append(Plan(f"{scope}-{pid}", scope, pid, covered, members, ids))
    if "country" in scopes:
        by_country: dict[str, list[int]] = {}
        for p, code in enumerate(model.parties["country"].tolist()):
            if code and takes_part[p]:
                by_country.setdefault(code, []).append(p)
        for code in sorted(by_country):
            out.append(Plan(f"country-{code.lower()}", "country", code.lower(),
                            agreements_of(by_country[code]),
                            frozenset(party_ids[by_country[code]]), ids))
    if "theme" in scopes:
        at = model.agreement_themes
        theme = at["theme_id"].to_numpy(dtype=object)
        for tid in model.top_themes:
            under = model.agreements.index.get_indexer(at["agreement_id"][theme == tid])
            out.append(Plan(f"theme-{tid}", "theme", tid, _distinct(under), None, ids))
    return out


def build_briefings(model: Model, as_of: str, scopes: tuple[str, ...] = SCOPES, *,
                    plans: list[Plan] | None = None,
                    changes: dict[str, tuple[str, ...]] | None = None) -> list[Briefing]:
    """The content of every briefing of the run (see plan_briefings), or of the `plans`
    given; `changes` gives each briefing (by name) its "since the last briefing" lines."""
    b = _Builder(model, as_of)
    if plans is None:
        plans = plan_briefings(model, scopes)
    return [b.build(plan, None if changes is None else changes[plan.name]) for plan in plans]


def content_key(model: Model, as_of: str) -> str:
    """What every briefing shows whichever it is: when it differs from the last run's,
    every briefing is built again (see pipeline)."""
    themes = model.data.themes
    shown = (drawing_version(), as_of, single_event(model), dataset_name(model), ORDER,
             tuple(model.top_themes),
             tuple(zip(themes["theme_id"].tolist(), themes["name"].tolist(),
                       themes["parent_id"].tolist(), strict=True)))
    return hashlib.sha256(repr(shown).encode()).hexdigest()[:16]


def party_scope(kind: str) -> str:
    """The briefing scope of a party of this kind: ministry, company, or party."""
    return "ministry" if kind == "ministry" else "company" if kind in COMPANY_KINDS else "party"
