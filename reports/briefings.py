"""Model -> the content of each briefing (pure data, picklable, no I/O).

A `Briefing` holds exactly what its PDF shows, so its data version (a hash of
it) changes exactly when the PDF would. Renderers never read sources.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property

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
    party_figures,
    plural,
    status_phrase,
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
    event = single_event(model)
    return f"{event} agreements" if event else "Agreements"


def join_names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


class _Builder:
    """Builds briefings from the model; an agreement's content is built the first time a
    briefing lists it, so that a run building a few briefings builds few agreements."""

    def __init__(self, model: Model, as_of: str) -> None:
        self.m = model
        self.as_of = as_of
        self.event = single_event(model)
        self.dataset = dataset_name(model)
        self.display = model.display_names
        self.part_by_agreement: dict[str, list[tuple[str, str, str, str]]] = {}
        part = model.participation
        for aid, pid, role, cert, note in zip(
                *(part[c].tolist() for c in ("agreement_id", "party_id", "role", "certainty",
                                             "note")), strict=True):
            self.part_by_agreement.setdefault(aid, []).append((pid, role, cert, note))
        self.targets_by_agreement: dict[str, list[BriefingTarget]] = {}
        t = model.targets
        for aid, desc, metric, value, unit, year in zip(
                *(t[c].tolist() for c in ("agreement_id", "description", "metric", "value",
                                          "unit", "target_year")), strict=True):
            self.targets_by_agreement.setdefault(aid, []).append(BriefingTarget(
                desc, metric, None if pd.isna(value) else float(value), unit,
                None if pd.isna(year) else int(year)))
        self.themes_by_agreement: dict[str, list[str]] = {}
        at = model.agreement_themes
        for aid, tid in zip(at["agreement_id"].tolist(), at["theme_id"].tolist(), strict=True):
            self.themes_by_agreement.setdefault(aid, []).append(tid)
        self.top_themes = set(model.top_themes)
        from .figures import overview_figures

        self.overview = overview_figures(model)
        self.party_rows = party_figures(model).to_dict("index")
        self.theme_rows = theme_figures(model).to_dict("index")
        self.country_rows = country_figures(model).to_dict("index")
        parties = model.data.parties
        self.party_country = dict(zip(parties["party_id"].tolist(),
                                      parties["country"].tolist(), strict=True))
        self.party_kind = dict(zip(parties["party_id"].tolist(), parties["kind"].tolist(),
                                   strict=True))
        themes = model.data.themes
        self.theme_name = dict(zip(themes["theme_id"].tolist(), themes["name"].tolist(),
                                   strict=True))
        self._sources_frame = model.data.sources
        self._sources: dict[str, BriefingSource] | None = None
        a = model.data.agreements
        self.columns = {c: a[c].tolist() for c in (
            "title", "kind", "signed_on", "status", "event", "location", "summary", "themes",
            "source_ids")}
        ids = a["agreement_id"].tolist()
        self.row_of = {aid: n for n, aid in enumerate(ids)}
        self.kind_of = dict(zip(ids, self.columns["kind"], strict=True))
        self.signed_on = dict(zip(ids, self.columns["signed_on"], strict=True))
        self.title_of = dict(zip(ids, self.columns["title"], strict=True))
        self.status_of = dict(zip(ids, self.columns["status"], strict=True))
        self.base: dict[str, BriefingAgreement] = {}
        self._party_cache: dict[tuple, BriefingParty] = {}
        # one order everywhere (ORDER): newest first, undated last, discussions among the
        # others by date, then by title and id; ranked once here, so that each briefing
        # sorts plain integers
        ranked = sorted(ids, key=lambda aid: (self.title_of[aid], aid))
        ranked.sort(key=lambda aid: self.signed_on[aid], reverse=True)
        ranked.sort(key=lambda aid: not self.signed_on[aid])
        self.rank = {aid: n for n, aid in enumerate(ranked)}
        # each agreement's party ids, for counting partners
        self.party_ids = {aid: frozenset(p[0] for p in parts)
                          for aid, parts in self.part_by_agreement.items()}
        self.inferred = {aid: n for aid, parts in self.part_by_agreement.items()
                         if (n := sum(p[2] == "inferred" for p in parts))}

    def source(self, source_id: str) -> BriefingSource:
        if self._sources is None:
            self._sources = {r["source_id"]: BriefingSource(r["publisher"], r["title"], r["url"],
                                                            r["published_on"])
                             for r in self._sources_frame.to_dict("records")}
        return self._sources[source_id]

    def base_agreement(self, aid: str) -> BriefingAgreement:
        """The agreement as plain values (pandas look-ups per cell are slow), built once."""
        built = self.base.get(aid)
        if built is not None:
            return built
        columns, row = self.columns, self.row_of[aid]
        members = []
        for pid, role, cert, note in self.part_by_agreement.get(aid, []):
            key = (pid, role, cert, note)
            party = self._party_cache.get(key)
            if party is None:
                kind, code = self.party_kind[pid], self.party_country[pid]
                party = self._party_cache[key] = BriefingParty(
                    pid, self.display[pid], kind, code,
                    country_name(party_country_code(kind, code)), role, cert, note)
            members.append(party)
        built = self.base[aid] = BriefingAgreement(
            aid, columns["title"][row], columns["kind"][row], columns["signed_on"][row],
            columns["status"][row], columns["event"][row], columns["location"][row],
            columns["summary"][row],
            tuple(self.theme_name[t] for t in columns["themes"][row]),
            tuple(members), tuple(self.targets_by_agreement.get(aid, [])),
            tuple(self.source(sid) for sid in columns["source_ids"][row]))
        return built

    def agreement(self, aid: str, members: frozenset[str] | None,
                  subject_id: str) -> BriefingAgreement:
        """The agreement as a briefing shows it; in a party's, members below it marked `via`."""
        base = self.base_agreement(aid)
        if members is None or len(members) == 1:
            return base
        if not any(p.party_id in members and p.party_id != subject_id for p in base.parties):
            return base
        parties = tuple(dataclasses.replace(p, via=p.name)
                        if p.party_id in members and p.party_id != subject_id else p
                        for p in base.parties)
        return dataclasses.replace(base, parties=parties)

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
        order = sorted(plan.agreement_ids, key=self.rank.__getitem__)
        kind_of = self.kind_of
        signed = [a for a in order if kind_of[a] != DISCUSSION]
        discussions = [a for a in order if kind_of[a] == DISCUSSION]
        # a country's parties are told by their country, not marked one by one
        marked = members if scope != "country" else None
        listed = tuple(self.agreement(a, marked, subject_id) for a in order[:TABLE_ROWS_MAX])
        recent = None
        if len(order) > LARGE_BRIEFING:
            recent = tuple(self.agreement(a, marked, subject_id)
                           for a in (signed or order)[:CARDS_IN_LARGE])
        # charts count agreements only (discussions have their own figure); partners are
        # named from agreements and discussions alike
        partner_agreements: Counter[str] = Counter()
        partner_any: Counter[str] = Counter()
        code_count: Counter[str] = Counter()
        party_country = self.party_country
        for aid in order:
            outside = self.party_ids.get(aid, frozenset())
            if members is not None:
                outside = outside - members
            partner_any.update(outside)
            if kind_of[aid] != DISCUSSION:
                partner_agreements.update(outside)
                code_count.update({party_country[p] for p in outside})
        code_count.pop("", None)
        country_count: Counter[str] = Counter()
        for code, n in code_count.items():
            country_count[country_name(code)] += n
        theme_count: Counter[str] = Counter()
        for aid in signed:
            for tid in self.themes_by_agreement.get(aid, []):
                if tid in self.top_themes:
                    theme_count[self.theme_name[tid]] += 1
        by_theme = tuple((self.theme_name[t], theme_count[self.theme_name[t]])
                         for t in m.top_themes)
        subthemes = self.subthemes(scope, subject_id)
        kind_count = Counter(kind_of[a] for a in order)
        targets = [t for aid in signed for t in self.targets_by_agreement.get(aid, [])]
        title_scope = subject if scope != "overview" else self.dataset
        what = "Agreements and discussions" if discussions else "Agreements"
        at = f" at {self.event}" if self.event else ""
        title = (f"{subject}: {what.lower()}{at}" if scope != "overview" else f"{what}{at}")
        figures = self.figures(scope, subject_id, members)
        # the chart's order (agreements, then name); partners of discussions only come last
        partners = sorted(((self.display[p], partner_agreements[p]) for p in partner_any),
                          key=lambda kv: (-kv[1], kv[0]))
        inferred = sum(self.inferred.get(aid, 0) for aid in order)
        summary = self.sentences(scope, subject, signed, discussions, partners, figures,
                                 theme_count, targets, members, subject_id, inferred)
        if subthemes and (signed or discussions):
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
            count=len(order), with_discussions=bool(discussions), recent=recent,
        )

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
            values = {f.label: f.value for f in self.overview}
            return tuple((label, f"{values[label]:,}") for label in shown)
        if scope == "theme":
            row = self.theme_rows[subject_id]
            return tuple((label, f"{row[label]:,}") for label in (
                AGREEMENTS, DISCUSSIONS, PARTIES_TAKING_PART, COUNTRIES, TARGETS))
        if scope == "country":
            row, suffix = self.country_rows[subject_id.upper()], ""
            return tuple((label, f"{row[label]:,}") for label in (
                AGREEMENTS, DISCUSSIONS, PARTNERS, PARTNER_COUNTRIES, TARGETS))
        row = self.party_rows[subject_id]
        suffix = ROLLED_UP if members is not None and len(members) > 1 else ""
        return tuple((label + suffix, f"{row[label + suffix]:,}") for label in (
            AGREEMENTS, DISCUSSIONS, PARTNERS, PARTNER_COUNTRIES, TARGETS))

    def sentences(self, scope: str, subject: str, signed: list[str], discussions: list[str],
                  partners: list[tuple[str, int]], figures: tuple[tuple[str, str], ...],
                  themes: Counter[str], targets: list[BriefingTarget],
                  members: frozenset[str] | None, subject_id: str,
                  inferred: int) -> tuple[str, ...]:
        """The executive summary, with the briefing's own key figures (never recounted).
        `signed` and `discussions` are agreement ids, in the briefing's order."""
        value = {label.removesuffix(ROLLED_UP): text for label, text in figures}
        if not signed and not discussions:  # an empty briefing says so, and only that
            return ((f"No agreement in this data set is under {subject}." if scope == "theme"
                     else "This data set holds no agreement." if scope == "overview"
                     else f"No agreement in this data set has a party from {subject}."
                     if scope == "country"
                     else f"{subject} takes part in no agreement in this data set."),)
        at = f" at {self.event}" if self.event else ""
        counted = plural(len(signed), "agreement")
        if discussions:
            counted += f" and {plural(len(discussions), 'discussion')}"
        statuses = status_phrase(self.status_of[a] for a in signed)
        status_note = f" ({statuses})" if signed else ""
        out: list[str] = []
        if scope in ("overview", "theme"):
            parties = _count_words(value[PARTIES_TAKING_PART], "party", "parties")
            countries = _count_words(value[COUNTRIES], "country", "countries")
            lead = ("This briefing covers" if scope == "overview"
                    else f"Under the theme {subject}, this briefing covers")
            if signed or discussions:
                out.append(f"{lead} {counted} recorded{at}{status_note}, with {parties} "
                           f"taking part from {countries}.")
            else:
                out.append(f"No agreement or discussion{at} is recorded under the theme "
                           f"{subject}." if scope == "theme" else
                           f"No agreement or discussion{at} is recorded.")
            if discussions and scope == "theme":
                titles = join_names([f"\u201c{self.title_of[d]}\u201d" for d in discussions[:3]])
                others = f" and {len(discussions) - 3:,} more" if len(discussions) > 3 else ""
                out.append(f"Discussions under it: {titles}{others}.")
        else:
            below = sorted(self.display[p] for p in members or () if p != subject_id)
            if scope == "country":
                out.append(f"{plural(len(members or ()), 'party', 'parties')} from {subject} "
                           f"took part in {counted}{at}{status_note}.")
            elif not signed and not discussions:
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
        if targets:
            listed = [t.text for t in targets] if len(targets) <= TARGETS_LISTED else []
            out.append(("Target: " if len(targets) == 1 else "Targets: ") + targets_sentence(
                [t.value for t in targets], [t.unit for t in targets], listed))
        else:
            out.append("No target is recorded.")
        open_ = [a for a in signed if self.status_of[a] == "open"]
        if open_:
            noun = ("declaration" if all(self.kind_of[a] == "declaration" for a in open_)
                    else "agreement")
            out.append(f"{plural(len(open_), noun)} "
                       f"{'is' if len(open_) == 1 else 'are'} open for others to join.")
        if inferred:
            out.append(f"{plural(inferred, 'participation')} {'is' if inferred == 1 else 'are'} "
                       "inferred from context rather than stated by the source, and marked so.")
        return tuple(out)


def _count_words(text: str, one: str, many: str) -> str:
    return f"{text} {one if text == '1' else many}"


@dataclass(frozen=True)
class Plan:
    """A briefing the run makes, known before its content is built: which agreements it
    covers and, for a party or a country, which parties count as its own."""

    name: str
    scope: str
    subject_id: str
    agreement_ids: frozenset[str]
    members: frozenset[str] | None  # a party and the parties below it; a country's parties


def plan_briefings(model: Model, scopes: tuple[str, ...] = SCOPES) -> list[Plan]:
    """Every briefing of the run, in the order the run lists them: the overview; one per
    party taking part in something, itself or through a party below it (ministry,
    company, or party for every other kind); one per country with a party in some
    agreement; one per top-level theme."""
    out: list[Plan] = []
    if "overview" in scopes:
        out.append(Plan("overview", "overview", "", frozenset(model.agreements.index), None))
    pairs = model.participation[["agreement_id", "party_id"]]
    agreements_of: dict[str, set[str]] = {}
    for aid, pid in zip(pairs["agreement_id"].tolist(), pairs["party_id"].tolist(),
                        strict=True):
        agreements_of.setdefault(pid, set()).add(aid)
    kinds = model.parties["kind"]
    for scope in ("ministry", "company", "party"):
        if scope not in scopes:
            continue
        for pid in model.parties.index[kinds.map(party_scope) == scope]:
            members = frozenset({pid, *model.parties_below(pid)})
            ids = frozenset().union(*(agreements_of.get(p, ()) for p in members))
            if ids:
                out.append(Plan(f"{scope}-{pid}", scope, pid, ids, members))
    if "country" in scopes:
        by_country: dict[str, set[str]] = {}
        for pid, code in zip(model.parties.index, model.parties["country"], strict=True):
            if code and pid in agreements_of:
                by_country.setdefault(code, set()).add(pid)
        for code in sorted(by_country):
            members = frozenset(by_country[code])
            ids = frozenset().union(*(agreements_of[p] for p in members))
            out.append(Plan(f"country-{code.lower()}", "country", code.lower(), ids, members))
    if "theme" in scopes:
        under: dict[str, list[str]] = {}
        at = model.agreement_themes
        for aid, tid in zip(at["agreement_id"].tolist(), at["theme_id"].tolist(), strict=True):
            under.setdefault(tid, []).append(aid)
        for tid in model.top_themes:
            out.append(Plan(f"theme-{tid}", "theme", tid, frozenset(under.get(tid, ())), None))
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
