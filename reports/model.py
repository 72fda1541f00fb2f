"""The validated data set with its look-ups: party by id, parties below a party, theme tree."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from .validate import DataSet

DISCUSSION = "discussion"


@dataclass(frozen=True)
class Model:
    """Read-only view over a DataSet with the look-ups every summary needs."""

    data: DataSet

    @cached_property
    def agreements(self) -> pd.DataFrame:
        frame = self.data.agreements.set_index("agreement_id", drop=False)
        return frame

    @cached_property
    def parties(self) -> pd.DataFrame:
        return self.data.parties.set_index("party_id", drop=False)

    @cached_property
    def themes(self) -> pd.DataFrame:
        return self.data.themes.set_index("theme_id", drop=False)

    @property
    def participation(self) -> pd.DataFrame:
        return self.data.participation

    @property
    def targets(self) -> pd.DataFrame:
        return self.data.targets

    @cached_property
    def sources(self) -> pd.DataFrame:
        return self.data.sources.set_index("source_id", drop=False)

    @cached_property
    def is_discussion(self) -> pd.Series:
        """agreement_id -> True for a recorded discussion (not counted as an agreement)."""
        return self.agreements["kind"] == DISCUSSION

    # ------------------------------------------------------------ parties
    def display_name(self, party_id: str) -> str:
        return self.display_names[party_id]

    @cached_property
    def display_names(self) -> dict[str, str]:
        """party_id -> the name readers see: the name, with the short name in brackets
        when it is not part of the name already."""
        p = self.data.parties
        return {pid: f"{name} ({short})" if short and short not in name else name
                for pid, name, short in zip(p["party_id"].tolist(), p["name"].tolist(),
                                            p["short_name"].tolist(), strict=True)}

    @cached_property
    def party_children(self) -> dict[str, list[str]]:
        children: dict[str, list[str]] = {}
        for pid, parent in zip(self.data.parties["party_id"], self.data.parties["parent_id"],
                               strict=True):
            if parent:
                children.setdefault(parent, []).append(pid)
        return children

    def parties_below(self, party_id: str) -> list[str]:
        """Every party below `party_id` through parent_id, at any depth (not itself)."""
        below: list[str] = []
        stack = list(self.party_children.get(party_id, []))
        while stack:
            pid = stack.pop(0)
            below.append(pid)
            stack.extend(self.party_children.get(pid, []))
        return below

    @cached_property
    def party_rollup(self) -> pd.DataFrame:
        """Pairs (party_id, member_id): each party with itself and every party below it."""
        ancestors: list[tuple[str, str]] = []
        parent = dict(zip(self.data.parties["party_id"], self.data.parties["parent_id"],
                          strict=True))
        for pid in parent:
            node = pid
            while node:
                ancestors.append((node, pid))
                node = parent.get(node, "")
        return pd.DataFrame(ancestors, columns=["party_id", "member_id"])

    # ------------------------------------------------------------ themes
    @cached_property
    def theme_order(self) -> list[str]:
        """Theme ids in tree order: each top-level theme followed by its finer themes."""
        children: dict[str, list[str]] = {}
        for tid, parent in zip(self.data.themes["theme_id"], self.data.themes["parent_id"],
                               strict=True):
            children.setdefault(parent, []).append(tid)
        order: list[str] = []

        def walk(tid: str) -> None:
            order.append(tid)
            for child in children.get(tid, []):
                walk(child)

        for top in children.get("", []):
            walk(top)
        return order

    @cached_property
    def top_themes(self) -> list[str]:
        return [t for t in self.theme_order if not self.themes.at[t, "parent_id"]]

    @cached_property
    def theme_ancestors(self) -> dict[str, tuple[str, ...]]:
        """theme_id -> itself and every theme above it, nearest first."""
        parent = dict(zip(self.data.themes["theme_id"], self.data.themes["parent_id"],
                          strict=True))
        result: dict[str, tuple[str, ...]] = {}
        for tid in parent:
            chain = []
            node = tid
            while node:
                chain.append(node)
                node = parent.get(node, "")
            result[tid] = tuple(chain)
        return result

    def theme_depth(self, theme_id: str) -> int:
        return len(self.theme_ancestors[theme_id]) - 1

    def top_theme_of(self, theme_id: str) -> str:
        return self.theme_ancestors[theme_id][-1]

    @cached_property
    def agreement_themes(self) -> pd.DataFrame:
        """agreement_id x theme_id, finer themes expanded to every theme above them.

        `direct` is True where the theme is curated on the agreement itself.
        """
        direct = self.data.agreements[["agreement_id", "themes"]].explode("themes")
        direct = direct.rename(columns={"themes": "theme_id"})
        chains = pd.DataFrame(
            [(tid, anc) for tid, chain in self.theme_ancestors.items() for anc in chain],
            columns=["theme_id", "ancestor"])
        expanded = direct.merge(chains, on="theme_id")
        expanded["direct"] = expanded["theme_id"] == expanded["ancestor"]
        expanded = (expanded.groupby(["agreement_id", "ancestor"], sort=False)["direct"].any()
                    .reset_index().rename(columns={"ancestor": "theme_id"}))
        return expanded
