"""Pure functions: model -> summary tables (pandas DataFrames). No I/O.

Every count is of distinct agreements; discussions are counted in their own
column. Column names are the ones readers see in the workbook.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

from . import figures
from .dataformat import COMPANY_KINDS, PARTY_KINDS
from .model import Model

NO_COUNTRY = figures.NO_COUNTRY
INTERNATIONAL = figures.INTERNATIONAL
party_country_code = figures.country_code
T = TypeVar("T")


@cache
def country_name(code: str) -> str:
    import pycountry

    if code == INTERNATIONAL:
        return "International organisations"
    if code == NO_COUNTRY:
        return "Country not recorded"
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name


def _participation_of(model: Model) -> pd.DataFrame:
    """Distinct (agreement_id, party_id) pairs: the same frame figures.py counts from."""
    return figures.participation_pairs(model)


def agreement_counts_by_party(model: Model) -> pd.DataFrame:
    """party_id -> Agreements, Discussions (direct participation), for every party."""
    return figures.party_figures(model)[[figures.AGREEMENTS, figures.DISCUSSIONS]]


def rolled_up_pairs(model: Model) -> pd.DataFrame:
    """(party_id, agreement_id) for each party and every party below it."""
    part = _participation_of(model).rename(columns={"party_id": "member_id"})
    pairs = model.party_rollup.merge(part, on="member_id")
    return pairs[["party_id", "agreement_id", "member_id"]]


# ---------------------------------------------------------------- integer positions
# The tables below join and count on integer positions (an agreement's row in
# model.agreements, a party's in model.parties, a theme's in model.themes) instead of
# their text ids: factorizing and merging text columns of 100,000s of rows costs seconds.


def _memo(model: Model, key: str, make: Callable[[], T]) -> T:
    cache: dict[str, Any] = model.__dict__.setdefault("_summaries_memo", {})
    if key not in cache:
        cache[key] = make()
    return cast(T, cache[key])


def _taking_part(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """The distinct participation pairs, in their order, as positions (a, p)."""
    pairs = figures.taking_part(model)
    return pairs["a"].to_numpy(), pairs["p"].to_numpy()


def _themes_of(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """model.agreement_themes, in its order, as positions (a, t)."""
    def make() -> tuple[np.ndarray, np.ndarray]:
        at = model.agreement_themes
        return (model.agreements.index.get_indexer(at["agreement_id"]),
                model.themes.index.get_indexer(at["theme_id"]))
    return _memo(model, "themes of", make)


def _join(left: np.ndarray, right: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """An inner join of two arrays of keys 0 .. n - 1: the (left row, right row) pairs of
    equal keys, each left row's matches in the order of the right rows, like merge."""
    order = np.argsort(right, kind="stable")
    counts = np.bincount(right, minlength=n)
    starts = np.cumsum(counts) - counts
    repeats = counts[left]
    left_rows = np.repeat(np.arange(len(left)), repeats)
    ends = np.cumsum(repeats)
    within = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - repeats, repeats)
    return left_rows, order[np.repeat(starts[left], repeats) + within]


def _distinct(*columns: np.ndarray) -> np.ndarray:
    """The rows where each combination of `columns` (integers >= 0) first appears, in order."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        key = key * (int(column.max()) + 1 if len(column) else 1) + column
    return np.flatnonzero(~pd.Series(key).duplicated().to_numpy())


def _joined_per(keys: np.ndarray, values: np.ndarray, labels: list[str], n: int) -> list[str]:
    """For each key 0 .. n - 1: the distinct labels[value] of its rows in the order they first
    appear, joined with "; " ("" for a key without rows). `values` are codes of distinct
    labels."""
    first = _distinct(keys, values)
    keys, values = keys[first], values[first]
    order = np.argsort(keys, kind="stable")
    found = [labels[v] for v in values[order].tolist()]
    bounds = np.searchsorted(keys[order], np.arange(n + 1)).tolist()
    return ["; ".join(found[bounds[i]:bounds[i + 1]]) for i in range(n)]


def _joined_lists(lists: list[tuple[str, ...]], names: dict[str, str] | None) -> list[str]:
    """Each tuple of ids as its names (the ids themselves when `names` is None) joined with
    "; "; each distinct tuple joined once (agreements share a few hundred of them)."""
    joined = {ids: "; ".join(ids if names is None else [names[i] for i in ids])
              for ids in set(lists)}
    return [joined[ids] for ids in lists]


def agreements_table(model: Model) -> pd.DataFrame:
    a = model.agreements
    name_codes, name_labels = pd.factorize(model.parties["name"])
    taking_a, taking_p = _taking_part(model)
    # each party name once per agreement, in the order of participation
    parties = _joined_per(taking_a, name_codes[taking_p], name_labels.tolist(), len(a))
    theme_names = dict(zip(model.themes["theme_id"].tolist(), model.themes["name"].tolist(),
                           strict=True))
    described: dict[str, list[str]] = {}
    t = model.targets
    for aid, text in zip(t["agreement_id"].tolist(), t["description"].tolist(), strict=True):
        described.setdefault(aid, []).append(text)
    sources = model.sources
    publishers = {sid: str(p) for sid, p in zip(sources.index, sources["publisher"],
                                                strict=True)}
    ids = a["agreement_id"].tolist()
    source_ids = a["source_ids"].tolist()
    table = pd.DataFrame({
        "agreement_id": a["agreement_id"],
        "title": a["title"],
        "kind": a["kind"],
        "signed_on": a["signed_on"],
        "status": a["status"],
        "event": a["event"],
        "location": a["location"],
        "parties": parties,
        "themes": _joined_lists(a["themes"].tolist(), theme_names),
        "targets": pd.Series(["; ".join(described[aid]) if aid in described else ""
                              for aid in ids], index=a.index, dtype=object),
        "sources": _joined_lists(source_ids, publishers),
        "source_ids": pd.Series(_joined_lists(source_ids, None), index=a.index),
        "source_url": pd.Series([i[0] for i in source_ids], index=a.index, dtype=object)
                        .map(sources["url"]).astype(object).fillna(""),
        "summary": a["summary"],
    })
    return _with_extras(model, "agreements", table, a)


def _with_extras(model: Model, name: str, table: pd.DataFrame,
                 frame: pd.DataFrame) -> pd.DataFrame:
    """Carry a curator's extra columns through; one named like ours gets an 'extra: ' prefix."""
    for column in model.data.extra_columns.get(name, ()):
        header = column if column not in table.columns else f"extra: {column}"
        table[header] = frame[column].to_numpy()
    return table.reset_index(drop=True)


def theme_labels(model: Model, themes: list[str]) -> list[str]:
    """Theme names as column headers; two themes sharing a name are told apart by their id."""
    names = [str(model.themes.at[t, "name"]) for t in themes]
    all_names = list(model.themes["name"])
    return [f"{n} ({t})" if all_names.count(n) > 1 else n
            for n, t in zip(names, themes, strict=True)]


def parties_table(model: Model) -> pd.DataFrame:
    p = model.parties
    table = pd.DataFrame({
        "party_id": p["party_id"],
        "name": p["name"],
        "short_name": p["short_name"],
        "kind": p["kind"],
        "country": p["country"],
        "parent_id": p["parent_id"],
        "parent": p["parent_id"].map(p["name"]).fillna(""),
        **_party_figure_columns(model, p.index),
        "aliases": p["aliases"].map("; ".join),
    })
    return _with_extras(model, "parties", table, p)


def participation_table(model: Model) -> pd.DataFrame:
    part = model.participation
    table = pd.DataFrame({
        "agreement_id": part["agreement_id"],
        "party_id": part["party_id"],
        "party": part["party_id"].map(model.parties["name"]),
        "agreement": part["agreement_id"].map(model.agreements["title"]),
        "role": part["role"],
        "certainty": part["certainty"],
        "note": part["note"],
    })
    return _with_extras(model, "participation", table, part)


def agreement_themes_table(model: Model) -> pd.DataFrame:
    at = model.agreement_themes
    return pd.DataFrame({
        "agreement_id": at["agreement_id"],
        "theme_id": at["theme_id"],
        "theme": at["theme_id"].map(model.themes["name"]),
        "direct": at["direct"].map({True: "yes", False: "no"}),
    }).reset_index(drop=True)


def _theme_counts_by(model: Model, keys: np.ndarray, agreements: np.ndarray, n: int,
                     themes: list[str]) -> np.ndarray:
    """Distinct agreements (not discussions) under each of `themes` (columns) per key
    0 .. n - 1 (rows), from (key, agreement position) pairs."""
    theme_a, theme_t = _themes_of(model)
    column = np.full(len(model.themes), -1)
    column[model.themes.index.get_indexer(themes)] = np.arange(len(themes))
    wanted = column[theme_t] >= 0
    theme_a, theme_col = theme_a[wanted], column[theme_t[wanted]]
    first = _distinct(keys, agreements)
    keys, agreements = keys[first], agreements[first]
    counted = ~model.is_discussion.to_numpy(dtype=bool)[agreements]
    keys, agreements = keys[counted], agreements[counted]
    # (key, agreement) pairs are distinct and agreement_themes has each (agreement, theme)
    # once, so counting rows counts distinct agreements
    rows, matches = _join(agreements, theme_a, len(model.agreements))
    cells = keys[rows] * len(themes) + theme_col[matches]
    return np.bincount(cells, minlength=n * len(themes)).reshape(n, len(themes))


def _party_figure_columns(model: Model, index: pd.Index) -> dict[str, pd.Series]:
    """The figures a party's briefing shows, direct and rolled up, under the same names."""
    table = figures.party_figures(model).reindex(index)
    names = [*figures.PER_PARTY, *(n + figures.ROLLED_UP for n in figures.PER_PARTY)]
    return {name: table[name] for name in names}


def by_ministry(model: Model) -> pd.DataFrame:
    ministries = model.parties[model.parties["kind"] == "ministry"]
    below = model.party_rollup
    below = below[below["party_id"].isin(ministries.index)
                  & (below["party_id"] != below["member_id"])]
    table = pd.DataFrame({
        "Ministry": ministries["name"],
        "party_id": ministries["party_id"],
        **_party_figure_columns(model, ministries.index),
        "Parties below": below.groupby("party_id").size().reindex(
            ministries.index, fill_value=0),
    })
    # (ministry, agreement) for each ministry and every party below it, as positions
    parties = model.parties.index
    row = np.full(len(parties), -1)
    row[parties.get_indexer(ministries.index)] = np.arange(len(ministries))
    rollup = model.party_rollup
    group = row[parties.get_indexer(rollup["party_id"])]
    member = parties.get_indexer(rollup["member_id"])[group >= 0]
    group = group[group >= 0]
    taking_a, taking_p = _taking_part(model)
    rows, matches = _join(member, taking_p, len(parties))
    keys, agreements = group[rows], taking_a[matches]
    first = _distinct(keys, agreements)
    kind_codes, kind_labels = pd.factorize(model.agreements["kind"])
    kinds = kind_codes[agreements[first]]
    by_kind = np.bincount(keys[first] * len(kind_labels) + kinds,
                          minlength=len(ministries) * len(kind_labels)
                          ).reshape(len(ministries), len(kind_labels))
    for code in sorted(set(kinds.tolist()), key=lambda c: kind_labels[c]):
        table[f"kind: {kind_labels[code]}"] = by_kind[:, code]
    themes = _theme_counts_by(model, keys, agreements, len(ministries), model.top_themes)
    for i, column in enumerate(theme_labels(model, model.top_themes)):
        table[f"theme: {column}"] = themes[:, i]
    table = table.fillna(0)
    return _sorted(table, ["Agreements (rolled up)", "Agreements", "Ministry"])


def _sorted(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    ascending = [not (c.startswith(("Agreements", "Discussions", "Parties"))) for c in by]
    return table.sort_values(by, ascending=ascending, kind="stable").reset_index(drop=True)


def by_company(model: Model) -> pd.DataFrame:
    parties = model.parties
    is_company = parties["kind"].isin(COMPANY_KINDS).to_numpy()
    companies = parties[is_company]
    taking_a, taking_p = _taking_part(model)
    mine = is_company[taking_p]
    mine_a, mine_p = taking_a[mine], taking_p[mine]
    # the countries of each company's partners, sorted
    rows, matches = _join(mine_a, taking_a, len(model.agreements))
    company, partner = mine_p[rows], taking_p[matches]
    country_codes, country_labels = pd.factorize(parties["country"])
    country = country_codes[partner]
    found = (company != partner) & (country_labels.to_numpy(dtype=object)[country] != "")
    countries = [("; ".join(sorted(codes.split("; "))) if codes else "") for codes in
                 _joined_per(company[found], country[found], country_labels.tolist(),
                             len(parties))]
    # the top-level themes of each company's agreements, in order
    theme_a, theme_t = _themes_of(model)
    top = np.isin(theme_t, model.themes.index.get_indexer(model.top_themes))
    name_codes, name_labels = pd.factorize(model.themes["name"].astype(str))
    rows, matches = _join(mine_a, theme_a[top], len(model.agreements))
    themes = _joined_per(mine_p[rows], name_codes[theme_t[top][matches]],
                         name_labels.tolist(), len(parties))
    at = is_company.nonzero()[0]
    table = pd.DataFrame({
        "Company": companies["name"],
        "party_id": companies["party_id"],
        **_party_figure_columns(model, companies.index),
        "kind": companies["kind"],
        "country": companies["country"],
        "Themes": pd.Series([themes[i] for i in at], index=companies.index, dtype=object),
        "Partner country codes": pd.Series([countries[i] for i in at], index=companies.index,
                                           dtype=object),
    })
    return _sorted(table, ["Agreements (rolled up)", "Agreements", "Discussions", "Company"])


def by_theme(model: Model) -> pd.DataFrame:
    numbers = figures.theme_figures(model)
    # each (theme, party) once: then counting rows counts distinct parties
    theme_a, theme_t = _themes_of(model)
    taking_a, taking_p = _taking_part(model)
    rows, matches = _join(theme_a, taking_a, len(model.agreements))
    n_parties = len(model.parties)
    seen = np.zeros(len(model.themes) * n_parties, dtype=bool)
    seen[theme_t[rows] * n_parties + taking_p[matches]] = True
    pairs = np.flatnonzero(seen)
    theme, party = pairs // n_parties, pairs % n_parties
    kind = model.parties["kind"]
    ministry = (kind == "ministry").to_numpy()[party]
    company = kind.isin(COMPANY_KINDS).to_numpy()[party]
    t = model.themes.loc[model.theme_order]
    at = model.themes.index.get_indexer(t.index)
    n_themes = len(model.themes)
    table = pd.DataFrame({
        "Theme": t["name"],
        "theme_id": t["theme_id"],
        figures.AGREEMENTS: numbers[figures.AGREEMENTS],
        figures.DISCUSSIONS: numbers[figures.DISCUSSIONS],
        "Top-level theme": t["theme_id"].map(
            lambda x: model.themes.at[model.top_theme_of(x), "name"]),
        "Level": t["theme_id"].map(lambda x: model.theme_depth(x) + 1),
        figures.PARTIES_TAKING_PART: numbers[figures.PARTIES_TAKING_PART],
        figures.COUNTRIES: numbers[figures.COUNTRIES],
        figures.TARGETS: numbers[figures.TARGETS],
        "Ministries": pd.Series(np.bincount(theme[ministry], minlength=n_themes)[at],
                                index=t.index),
        "Companies": pd.Series(np.bincount(theme[company], minlength=n_themes)[at],
                               index=t.index),
    })
    return table.reset_index(drop=True)


def by_country(model: Model) -> pd.DataFrame:
    p = model.parties
    code = pd.Series([party_country_code(k, c) for k, c in zip(p["kind"], p["country"],
                                                               strict=True)], index=p.index)
    code_of, labels = pd.factorize(code)
    n = len(labels)
    taking_a, taking_p = _taking_part(model)
    country = code_of[taking_p]
    first = _distinct(country, taking_a)
    discussion = model.is_discussion.to_numpy(dtype=bool)[taking_a[first]]
    agreements = np.bincount(country[first][~discussion], minlength=n)
    discussions = np.bincount(country[first][discussion], minlength=n)
    taking_part = np.bincount(code_of[np.unique(taking_p)], minlength=n)
    registered = np.bincount(code_of, minlength=n)
    present = sorted(set(country.tolist()), key=lambda c: labels[c])
    index = pd.Index([labels[c] for c in present], dtype=code.dtype)
    table = pd.DataFrame({
        "Country": index,
        "Agreements": agreements[present].astype("int64"),
        "Discussions": discussions[present].astype("int64"),
        "Country name": [country_name(c) for c in index],
        figures.PARTIES_TAKING_PART: taking_part[present].astype("int64"),
        figures.PARTIES_REGISTERED: registered[present].astype("int64"),
    })
    # what a country's briefing shows, under the same names
    numbers = figures.country_figures(model).reindex(index, fill_value=0)
    for name in (figures.PARTNERS, figures.PARTNER_COUNTRIES, figures.TARGETS):
        table[name] = numbers[name].to_numpy()
    return _sorted(table, ["Agreements", "Discussions", "Country"])


def party_theme_matrix(model: Model) -> pd.DataFrame:
    """Party x theme: distinct agreements (not discussions) of each party under each theme."""
    taking_a, taking_p = _taking_part(model)
    counts = _theme_counts_by(model, taking_p, taking_a, len(model.parties),
                              model.theme_order)
    table = pd.DataFrame({"party_id": model.parties["party_id"], "Party": model.parties["name"]})
    for i, column in enumerate(theme_labels(model, model.theme_order)):
        table[column] = counts[:, i]
    total = agreement_counts_by_party(model)["Agreements"]
    table["Agreements"] = total
    table = table[total > 0]
    return _sorted(table, ["Agreements", "Party"])


def targets_table(model: Model) -> pd.DataFrame:
    t = model.targets
    return pd.DataFrame({
        "agreement_id": t["agreement_id"],
        "agreement": t["agreement_id"].map(model.agreements["title"]),
        "description": t["description"],
        "metric": t["metric"],
        "value": t["value"],
        "unit": t["unit"],
        "target_year": t["target_year"],
    }).reset_index(drop=True)


def kind_counts(model: Model) -> pd.DataFrame:
    """Records by kind of agreement (discussions included, as their own kind)."""
    counts = model.agreements["kind"].value_counts()
    return pd.DataFrame({"Kind": counts.index, "Records": counts.to_numpy()})


def party_kind_counts(model: Model) -> pd.DataFrame:
    counts = model.parties["kind"].value_counts()
    order = [k for k in PARTY_KINDS if k in counts.index]
    return pd.DataFrame({"Kind": order, "Parties": [int(counts[k]) for k in order]})


def key_counts(model: Model) -> dict[str, int]:
    """The rows of each table, for manifest.json's `counts` (readers' figures are in
    figures.overview_figures)."""
    disc = int(model.is_discussion.sum())
    return {
        "agreements": int(len(model.agreements) - disc),
        "discussions": disc,
        "parties": int(len(model.parties)),
        "participation": int(len(model.participation)),
        "themes": int(len(model.themes)),
        "targets": int(len(model.targets)),
        "sources": int(len(model.sources)),
        "warnings": len(model.data.warnings),
    }
