"""``argus team quota …`` and ``argus priority-class …``: the run-time policy (admins change it).

``quota`` hangs under ``argus team`` (argus/cli/admin.py adds it)."""

from __future__ import annotations

import click

from argus.cli.common import CliState, output_option, pass_state
from argus.cli.output import emit_json, table


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@click.group("quota")
def quota() -> None:
    """Teams' GPU quotas and fair-share weights (stored in the database; no restart needed)."""


@quota.command("show")
@output_option
@pass_state
def quota_show(state: CliState, output: str) -> None:
    """Every team with a quota: weight and quota per flavor."""
    teams = state.client().policy()["teams"]
    if output == "json":
        emit_json(teams)
        return
    table([[t["team"], _num(t["weight"]), flavor, _num(q["nominal"]), _num(q.get("borrowing_limit")),
            _num(q.get("lending_limit"))]
           for t in teams for flavor, q in (sorted(t["quota"].items()) or [("-", {"nominal": None})])],
          ["TEAM", "WEIGHT", "FLAVOR", "NOMINAL", "MAY_BORROW", "MAY_LEND"])


@quota.command("set")
@click.argument("team_name", metavar="TEAM")
@click.option("--flavor", help="GPU model (H100) or '*' for any; with --nominal.")
@click.option("--nominal", type=float, help="GPUs of the flavor the team is owed.")
@click.option("--borrowing-limit", type=float, help="May borrow at most this much above nominal.")
@click.option("--lending-limit", type=float, help="Lends at most this much of its idle quota.")
@click.option("--weight", type=float, help="Fair-share weight.")
@output_option
@pass_state
def quota_set(state: CliState, team_name: str, flavor: str | None, nominal: float | None,
              borrowing_limit: float | None, lending_limit: float | None, weight: float | None,
              output: str) -> None:
    """Set TEAM's quota of one flavor and/or its weight (admins). Applies from the next tick."""
    if (flavor is None) != (nominal is None):
        raise click.UsageError("give --flavor and --nominal together (or only --weight)")
    result = state.client().set_team_quota(team_name, flavor=flavor, nominal=nominal,
                                           borrowing_limit=borrowing_limit, lending_limit=lending_limit,
                                           weight=weight)
    emit_json(result) if output == "json" else click.echo(
        f"team {team_name}: weight {result['weight']:g}, quota "
        + (", ".join(f"{f} {q['nominal']:g}" for f, q in sorted(result["quota"].items())) or "none"))


@quota.command("clear")
@click.argument("team_name", metavar="TEAM")
@click.option("--flavor", help="Only this flavor's quota (default: all of the team's; it is then unlimited).")
@pass_state
def quota_clear(state: CliState, team_name: str, flavor: str | None) -> None:
    """Remove TEAM's quota (admins)."""
    state.client().clear_team_quota(team_name, flavor)
    click.echo(f"team {team_name}: quota {'of ' + flavor if flavor else ''} removed".replace("  ", " "))


@click.group("priority-class")
def priority_class() -> None:
    """Priority classes: rank, stop grace, preemption (stored in the database; no restart needed)."""


@priority_class.command("list")
@output_option
@pass_state
def class_list(state: CliState, output: str) -> None:
    classes = state.client().policy()["priority_classes"]
    if output == "json":
        emit_json(classes)
        return
    table([[c["rank"], c["name"], c["grace_seconds"], "yes" if c["may_preempt"] else "no",
            "yes" if c["preemptible"] else "no"] for c in classes],
          ["RANK", "NAME", "GRACE_S", "MAY_PREEMPT", "PREEMPTIBLE"])


@priority_class.command("set")
@click.argument("name")
@click.option("--rank", type=int, help="0 is the highest; the classes from this rank move down.")
@click.option("--grace-seconds", type=int, help="RAY_JOB_STOP_WAIT_TIME_S of a preempted or cancelled task.")
@click.option("--may-preempt/--no-may-preempt", default=None, help="May its tasks preempt others.")
@click.option("--preemptible/--no-preemptible", default=None, help="May its tasks be preempted.")
@output_option
@pass_state
def class_set(state: CliState, name: str, rank: int | None, grace_seconds: int | None,
              may_preempt: bool | None, preemptible: bool | None, output: str) -> None:
    """Create or change priority class NAME (admins)."""
    result = state.client().set_priority_class(name, rank=rank, grace_seconds=grace_seconds,
                                               may_preempt=may_preempt, preemptible=preemptible)
    emit_json(result) if output == "json" else click.echo(
        f"priority class {result['name']}: rank {result['rank']}, grace {result['grace_seconds']} s, "
        f"may preempt {'yes' if result['may_preempt'] else 'no'}, "
        f"preemptible {'yes' if result['preemptible'] else 'no'}")


@priority_class.command("delete")
@click.argument("name")
@pass_state
def class_delete(state: CliState, name: str) -> None:
    """Remove priority class NAME; refused while a queued or running task uses it (admins)."""
    state.client().delete_priority_class(name)
    click.echo(f"priority class {name} removed")

