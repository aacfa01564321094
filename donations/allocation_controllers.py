"""The province officer's matching pages: preview a policy's allocation of the pooled supply, then
commit it. Thin: parse, call :mod:`donations.allocation`, render."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Template

from app.auth.guards import acting_user, officer_only
from app.errors import ValidationFailed
from app.forms import form_data
from app.i18n import _, format_number, format_percent, lazy
from app.web import DbSession, flash, render, see_other
from donations import allocation
from donations.matching import POLICIES
from donations.models import Pledge, Target
from needs.catalog import kind_choices

POLICY_LABELS = {
    "leximin": lazy("Fair share (leximin, weighted)"),
    "proportional": lazy("Proportional to open value"),
    "priority": lazy("Priority communes first"),
    "fcfs": lazy("First come, first served"),
}


@dataclass(frozen=True)
class Row:
    """One commune in the chart: coverage before, after the chosen policy, after fcfs."""

    name: str
    weight: float
    before: float
    after: float
    after_fcfs: float
    level: float


@dataclass(frozen=True)
class LineView:
    commune: str
    need: str
    source: str
    quantity: int
    amount: int
    value: int
    reason: str


def _reason(fig: allocation.CommuneFigures, pledge: Pledge, policy: str) -> str:
    """Why this line goes where it goes, with the same coverage figures as the chart: the commune's
    coverage before and after the run (all its open needs). A gift its sponsor gave to a commune,
    or limited to some communes, goes there by the sponsor's choice, whatever the policy; the rest
    by the policy's rule (for leximin, the share of what the commune still lacked that this run
    gives it, over its weight, is its level r: the pool raises every commune it can reach to the
    same level)."""
    moves = {"commune": fig.commune.name, "before": format_percent(fig.coverage_before),
             "after": format_percent(fig.coverage_after)}
    if pledge.target == Target.COMMUNE:
        return _("The sponsor gave this to %(commune)s: from %(before)s to %(after)s covered.", **moves)
    if pledge.allowed_communes:
        return _("The sponsor limited this gift to %(n)s communes; %(commune)s goes from %(before)s to %(after)s "
                 "covered.", n=len(pledge.allowed_communes), **moves)
    if policy == "leximin":
        return _("Fair share: %(commune)s goes from %(before)s to %(after)s covered; this run gives it %(share)s of "
                 "what it still lacked (weight %(weight)s, level r = %(r)s).", **moves,
                 share=format_percent(fig.level * fig.commune.priority_weight),
                 weight=format_number(fig.commune.priority_weight), r=format_number(round(fig.level, 3)))
    if policy == "proportional":
        return _("In proportion to what it still lacked: %(commune)s goes from %(before)s to %(after)s covered.",
                 **moves)
    if policy == "priority":
        return _("Priority weight %(weight)s: %(commune)s goes from %(before)s to %(after)s covered.",
                 weight=format_number(fig.commune.priority_weight), **moves)
    return _("First come, first served: %(commune)s goes from %(before)s to %(after)s covered.", **moves)


def _preview(situation: allocation.Situation, policy: str, kind_names: dict[str, str]) -> dict[str, Any]:
    _result, lines = allocation.run(situation, policy)
    figs = allocation.figures(situation, lines)
    fcfs = allocation.figures(situation, lines if policy == "fcfs" else allocation.run(situation, "fcfs")[1])
    rows = [Row(f.commune.name, f.commune.priority_weight, f.coverage_before, f.coverage_after,
                fcfs[cid].coverage_after, f.level) for cid, f in figs.items()]
    needs = {n["id"]: n for n in situation.instance["needs"]}
    views = []
    for line in lines:
        need = situation.needs[line.need_key]
        pledge = situation.pledges[line.source_key]
        views.append(LineView(
            commune=figs[needs[line.need_key]["commune"]].commune.name,
            need=f"#{need.id} · {kind_names.get(need.item_kind_key, need.item_kind_key)}", source=pledge.reference,
            quantity=line.quantity, amount=line.amount, value=line.value,
            reason=_reason(figs[needs[line.need_key]["commune"]], pledge, policy)))
    return {
        "rows": rows,
        "lines": views,
        "total_value": sum(line.value for line in lines),
        "total_value_fcfs": sum(f.added for f in fcfs.values()),
        "supply": len(situation.instance["lots"]) + len(situation.instance["funds"]),
        "open_needs": len(situation.instance["needs"]),
    }


class AllocationController(Controller):
    path = "/officer/matching"
    guards = [officer_only]

    @get("/", name="matching_preview")
    async def preview(
        self, request: Request[Any, Any, Any], db_session: DbSession, policy: FromQuery[str] = "leximin"
    ) -> Template:
        if policy not in POLICIES:
            policy = "leximin"
        settings = request.app.state.settings
        situation = await allocation.gather(db_session, settings.province_code)
        kind_names = {k.key: k.name for k in await kind_choices(db_session)}
        return render(
            request, "donations/matching.html", fragment="donations/_matching_preview.html",
            policy=policy, policies=[(p, POLICY_LABELS[p]) for p in POLICIES], snapshot=situation.fingerprint,
            **_preview(situation, policy, kind_names),
        )

    @post("/", name="matching_commit")
    async def commit(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        values = form_data(await request.form())
        policy, snapshot = values.get("policy"), values.get("snapshot")
        if policy not in POLICIES or not isinstance(snapshot, str) or not snapshot:
            raise ValidationFailed({"policy": _("Preview an allocation before committing it.")})
        settings = request.app.state.settings
        run_id = await allocation.commit_allocations(
            db_session, acting_user(request), settings.province_code, policy, snapshot)
        flash(request, _("Allocation committed (run %(run)s).", run=run_id))
        return see_other(request, f"/officer/matching?policy={policy}")
