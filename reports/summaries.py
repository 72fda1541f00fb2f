"""Pure functions: model -> summary tables (pandas DataFrames). No I/O.

Every count is of distinct agreements; discussions are counted in their own
column. Column names are the ones readers see in the workbook.
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from . import figures
from .dataformat import COMPANY_KINDS, PARTY_KINDS
from .model import Model

NO_COUNTRY = figures.NO_COUNTRY
INTERNATIONAL = figures.INTERNATIONAL
party_country_code = figures.country_code


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


def _joined_by(keys: pd.Series, values: pd.Series) -> dict[str, str]:
    """key -> its distinct values joined with "; ", in order (plain Python: a groupby with
    a Python function per group costs seconds at 100,000 groups)."""
    groups: dict[str, dict[str, None]] = {}
    for key, value in zip(keys.tolist(), values.tolist(), strict=True):
        groups.setdefault(key, {})[value] = None
    return {key: "; ".join(found) for key, found in groups.items()}


def agreements_table(model: Model) -> pd.DataFrame:
    a = model.agreements
    names = dict(zip(model.parties["party_id"].tolist(), model.parties["name"].tolist(),
                     strict=True))
    parties = _joined_by(model.participation["agreement_id"],
                         model.participation["party_id"].map(names))
    theme_names = dict(zip(model.themes["theme_id"].tolist(), model.themes["name"].tolist(),
                           strict=True))
    targets = model.targets.groupby("agreement_id", sort=False)["description"].agg("; ".join)
    sources = model.sources
    publishers = {sid: str(p) for sid, p in zip(sources.index, sources["publisher"],
                                                strict=True)}
    first_source = a["source_ids"].map(lambda ids: ids[0])
    table = pd.DataFrame({
        "agreement_id": a["agreement_id"],
        "title": a["title"],
        "kind": a["kind"],
        "signed_on": a["signed_on"],
        "status": a["status"],
        "event": a["event"],
        "location": a["location"],
        "parties": [parties.get(aid, "") for aid in a["agreement_id"].tolist()],
        "themes": [("; ".join(theme_names[t] for t in ids)) for ids in a["themes"].tolist()],
        "targets": a["agreement_id"].map(targets).astype(object).fillna(""),
        "sources": ["; ".join(publishers[s] for s in ids) for ids in a["source_ids"].tolist()],
        "source_ids": a["source_ids"].map("; ".join),
        "source_url": first_source.map(sources["url"]).astype(object).fillna(""),
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


def _theme_counts_by(model: Model, pairs: pd.DataFrame, key: str,
                     themes: list[str]) -> pd.DataFrame:
    """key -> number of distinct agreements (not discussions) under each of `themes`."""
    at = model.agreement_themes
    at = at[at["theme_id"].isin(themes)]
    merged = pairs[[key, "agreement_id"]].drop_duplicates().merge(at, on="agreement_id")
    merged = merged[~merged["agreement_id"].map(model.is_discussion)]
    # (key, agreement) pairs are distinct and agreement_themes has each (agreement, theme)
    # once, so counting rows counts distinct agreements (size is far cheaper than nunique)
    table = merged.groupby([key, "theme_id"]).size().unstack(fill_value=0)
    table = table.reindex(columns=themes, fill_value=0)
    table.columns = theme_labels(model, themes)
    return table


def _party_figure_columns(model: Model, index: pd.Index) -> dict[str, pd.Series]:
    """The figures a party's briefing shows, direct and rolled up, under the same names."""
    table = figures.party_figures(model).reindex(index)
    names = [*figures.PER_PARTY, *(n + figures.ROLLED_UP for n in figures.PER_PARTY)]
    return {name: table[name] for name in names}


def by_ministry(model: Model) -> pd.DataFrame:
    ministries = model.parties[model.parties["kind"] == "ministry"]
    pairs = rolled_up_pairs(model)
    pairs = pairs[pairs["party_id"].isin(ministries.index)]
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
    kinds = pairs.merge(model.agreements[["kind"]], left_on="agreement_id", right_index=True)
    by_kind = kinds.groupby(["party_id", "kind"])["agreement_id"].nunique().unstack(fill_value=0)
    for kind in by_kind.columns:
        table[f"kind: {kind}"] = by_kind[kind].reindex(ministries.index, fill_value=0)
    themes = _theme_counts_by(model, pairs, "party_id", model.top_themes)
    for column in themes.columns:
        table[f"theme: {column}"] = themes[column].reindex(ministries.index, fill_value=0)
    table = table.fillna(0)
    return _sorted(table, ["Agreements (rolled up)", "Agreements", "Ministry"])


def _sorted(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    ascending = [not (c.startswith(("Agreements", "Discussions", "Parties"))) for c in by]
    return table.sort_values(by, ascending=ascending, kind="stable").reset_index(drop=True)


def by_company(model: Model) -> pd.DataFrame:
    companies = model.parties[model.parties["kind"].isin(COMPANY_KINDS)]
    part = _participation_of(model)
    mine = part[part["party_id"].isin(companies.index)]
    partners = mine.merge(part, on="agreement_id", suffixes=("", "_partner"))
    partners = partners[partners["party_id"] != partners["party_id_partner"]]
    partners["country"] = partners["party_id_partner"].map(model.parties["country"])
    with_country = partners[partners["country"] != ""]
    countries = pd.Series({pid: "; ".join(sorted(codes.split("; "))) for pid, codes in
                           _joined_by(with_country["party_id"], with_country["country"]).items()},
                          dtype=object)
    at = model.agreement_themes
    top = at[at["theme_id"].isin(model.top_themes)]
    theme_names = model.themes["name"].astype(str)
    mine_top = mine.merge(top, on="agreement_id")
    themes = pd.Series(_joined_by(mine_top["party_id"], mine_top["theme_id"].map(theme_names)),
                       dtype=object)
    table = pd.DataFrame({
        "Company": companies["name"],
        "party_id": companies["party_id"],
        **_party_figure_columns(model, companies.index),
        "kind": companies["kind"],
        "country": companies["country"],
        "Themes": themes.reindex(companies.index).fillna(""),
        "Partner country codes": countries.reindex(companies.index).fillna(""),
    })
    return _sorted(table, ["Agreements (rolled up)", "Agreements", "Discussions", "Company"])


def by_theme(model: Model) -> pd.DataFrame:
    at = model.agreement_themes
    numbers = figures.theme_figures(model)
    # each (theme, party) once: then counting rows counts distinct parties
    with_parties = at[["theme_id", "agreement_id"]].merge(
        _participation_of(model), on="agreement_id")[["theme_id", "party_id"]].drop_duplicates()
    with_parties["pkind"] = with_parties["party_id"].map(model.parties["kind"])
    n_ministries = with_parties[with_parties["pkind"] == "ministry"].groupby("theme_id").size()
    n_companies = with_parties[with_parties["pkind"].isin(COMPANY_KINDS)].groupby(
        "theme_id").size()
    t = model.themes.loc[model.theme_order]
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
        "Ministries": n_ministries.reindex(t.index, fill_value=0),
        "Companies": n_companies.reindex(t.index, fill_value=0),
    })
    return table.reset_index(drop=True)


def by_country(model: Model) -> pd.DataFrame:
    p = model.parties
    code = pd.Series([party_country_code(k, c) for k, c in zip(p["kind"], p["country"],
                                                               strict=True)], index=p.index)
    part = _participation_of(model).copy()
    part["country"] = part["party_id"].map(code)
    counts = figures.counts_by(model, part, "country")
    n_parties = code.groupby(code).size()
    taking_part = part[["country", "party_id"]].drop_duplicates().groupby("country").size()
    table = pd.DataFrame({
        "Country": counts.index,
        "Agreements": counts["Agreements"].to_numpy(),
        "Discussions": counts["Discussions"].to_numpy(),
        "Country name": [country_name(c) for c in counts.index],
        figures.PARTIES_TAKING_PART: taking_part.reindex(counts.index, fill_value=0).to_numpy(),
        figures.PARTIES_REGISTERED: n_parties.reindex(counts.index, fill_value=0).to_numpy(),
    })
    # what a country's briefing shows, under the same names
    numbers = figures.country_figures(model).reindex(counts.index, fill_value=0)
    for name in (figures.PARTNERS, figures.PARTNER_COUNTRIES, figures.TARGETS):
        table[name] = numbers[name].to_numpy()
    return _sorted(table, ["Agreements", "Discussions", "Country"])


def party_theme_matrix(model: Model) -> pd.DataFrame:
    """Party x theme: distinct agreements (not discussions) of each party under each theme."""
    part = _participation_of(model)
    counts = _theme_counts_by(model, part, "party_id", model.theme_order)
    counts = counts.reindex(model.parties.index, fill_value=0)
    table = pd.DataFrame({"party_id": model.parties["party_id"], "Party": model.parties["name"]})
    for column in counts.columns:
        table[column] = counts[column]
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
