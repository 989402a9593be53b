"""The labels of a campaign, defined once: :func:`selected_calculations` and what is counted from it.

A campaign's labels are the calculations of the structures selected in its generations, at the
level of theory stored on the campaign. Every count of labels (the loop's budgets and training
sets, ``alforge status``, the dashboard, exports) starts from :func:`selected_calculations`.

Example
-------
>>> from alforge.db import Database
>>> db = Database("sqlite:///:memory:")
>>> with db.session(readonly=True) as session:
...     campaign_calculation_ids(session, campaign_id=1), label_counts_by_campaign(session, [1])
([], {})
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from alforge.db.schema import Calculation, Campaign, Candidate, Generation

__all__ = [
    "campaign_calculation_ids",
    "label_counts_by_campaign",
    "label_counts_by_generation",
    "selected_calculations",
]


def selected_calculations(level_hash: str | None, *, every_campaign: bool = False) -> Select[Any]:
    """Selected candidates joined to their calculation at the campaign's level of theory.

    The query selects no columns yet: add them with ``.add_columns(...)`` and restrict it to a
    campaign with ``.where(Generation.campaign_id == ...)`` (``Candidate``, ``Generation`` and
    ``Calculation`` are joined). ``level_hash`` is the campaign's level of theory;
    ``every_campaign`` joins the campaigns table and uses each campaign's own level instead.
    """
    query = select().select_from(Candidate).join(Generation, Generation.id == Candidate.generation_id)
    level: Any = level_hash
    if every_campaign:
        query = query.join(Campaign, Campaign.id == Generation.campaign_id)
        level = Campaign.level_hash
    return query.join(
        Calculation, and_(Calculation.structure_id == Candidate.structure_id, Calculation.level_hash == level)
    ).where(Candidate.selected.is_(True))


def campaign_calculation_ids(
    session: Session,
    campaign_id: int,
    split: str | None = "train",
    *,
    since_index: int | None = None,
    until_index: int | None = None,
) -> list[int]:
    """Ids of the ``ok`` calculations of a campaign (its training split by default), oldest first.

    ``split=None`` returns every labelled split (``train`` and ``validation``); ``since_index``
    and ``until_index`` keep only those selected in generations of those indices (inclusive).
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.level_hash is None:
        return []
    query = (
        selected_calculations(campaign.level_hash)
        .add_columns(Calculation.id)
        .where(Generation.campaign_id == campaign_id, Calculation.status == "ok")
        .order_by(Calculation.id)
        .distinct()
    )
    if split is not None:
        query = query.where(Candidate.split == split)
    if since_index is not None:
        query = query.where(Generation.index >= since_index)
    if until_index is not None:
        query = query.where(Generation.index <= until_index)
    return list(session.scalars(query))


def label_counts_by_campaign(session: Session, campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """``{campaign id: {calculation status: count}}`` of the campaigns' selected structures (one statement).

    Statuses are ``ok`` (labels), ``quarantined``, ``failed`` and ``pending``; a campaign with no
    selected structure is absent. ``sum(counts.values())`` is the number of labels tried.
    """
    counts: dict[int, dict[str, int]] = {}
    for campaign_id, status, n in session.execute(
        selected_calculations(None, every_campaign=True)
        .add_columns(Generation.campaign_id, Calculation.status, func.count())
        .where(Generation.campaign_id.in_(campaign_ids))
        .group_by(Generation.campaign_id, Calculation.status)
    ):
        counts.setdefault(campaign_id, {})[status] = n
    return counts


def label_counts_by_generation(session: Session, campaign_id: int, level_hash: str | None) -> dict[int, dict[str, int]]:
    """``{generation index: {status or "ok_<split>": count}}`` for the campaign's selected structures.

    ``ok_train`` and ``ok_validation`` split the ``ok`` count by the split the label went to.
    """
    counts: dict[int, dict[str, int]] = {}
    for index, status, split, n in session.execute(
        selected_calculations(level_hash)
        .add_columns(Generation.index, Calculation.status, Candidate.split, func.count())
        .where(Generation.campaign_id == campaign_id)
        .group_by(Generation.index, Calculation.status, Candidate.split)
    ):
        tally = counts.setdefault(index, {})
        tally[status] = tally.get(status, 0) + n
        if status == "ok":
            key = f"ok_{split or 'train'}"
            tally[key] = tally.get(key, 0) + n
    return counts
