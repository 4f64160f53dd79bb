"""The operator's commands: agents' state and the controls, each control audited.

    botburrow agents list [--json]
    botburrow agents show NAME [--json]
    botburrow agents pause NAME | resume NAME
    botburrow breaker reset NAME
    botburrow activations cancel ID
    botburrow consumption dead list [--limit N] [--json]
    botburrow consumption dead replay (--id ID | --all)

Reads the settings like the runners do (``REDIS_URL``, ``STREAM_PREFIX``, and the agent
definitions' source when it is configured: without it, only the agents the poller has
seen are listed). Each control is recorded in ``{prefix}:audit`` as ``cli:<OS user>``.
Exit 1 when the agent, activation or record named is not known.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from shared.agents import AgentStore
from shared.definitions import agent_store
from shared.errors import ConfigurationError
from shared.operator import (
    AgentDetail,
    AgentState,
    AuditEntry,
    Controls,
    Operator,
    UnknownActivation,
    UnknownAgent,
    UnknownDeadRecord,
)
from shared.settings import Settings
from shared.streams import Redis, StreamKeys, connect


def add_agent_actions(agents_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``agents list|show|pause|resume`` (beside ``agents validate``)."""
    listing = agents_sub.add_parser("list", help="every known agent: pools, last activation, spend, breaker, paused")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = agents_sub.add_parser("show", help="one agent: its state, definition, limits used today, recent activations")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="one JSON object")
    for action, what in (("pause", "queue nothing new for it; its queued work waits"), ("resume", "undo pause")):
        agents_sub.add_parser(action, help=what).add_argument("name", metavar="NAME")


def add_cancel(activations_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``activations cancel ID``."""
    cancel = activations_sub.add_parser("cancel", help="stop an activation at its next step (or as it starts)")
    cancel.add_argument("id", metavar="ID", help="the activation's id (its event id)")


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``breaker reset`` and ``consumption dead list|replay``."""
    breaker = sub.add_parser("breaker", help="the agents' circuit breakers")
    breaker_sub = breaker.add_subparsers(dest="action", required=True)
    breaker_sub.add_parser("reset", help="close an agent's breaker, forgetting its failures").add_argument(
        "name", metavar="NAME"
    )
    consumption = sub.add_parser("consumption", help="consumption records for the Hub")
    consumption_sub = consumption.add_subparsers(dest="which", required=True)
    dead = consumption_sub.add_parser("dead", help="the records the Hub refused")
    dead_sub = dead.add_subparsers(dest="action", required=True)
    listing = dead_sub.add_parser("list", help="refused records, oldest first, with the reason")
    listing.add_argument("--limit", type=int, default=100, help="most records to show (default 100)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    replay = dead_sub.add_parser("replay", help="put refused records back in the outbox")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", help="the record's dead-stream entry id, or its completion event id")
    which.add_argument("--all", action="store_true", help="every refused record")


def who() -> str:
    """The audit's ``who`` of this command line: ``cli:<OS user>``."""
    return f"cli:{getpass.getuser()}"


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """One operator command; 1 when what it names is not known."""
    redis = connect(settings.redis_url)
    keys = StreamKeys(settings.streams.prefix)
    try:
        operator = Operator(redis, keys=keys, agents=_store(settings, redis, keys))
        controls = Controls(redis, keys=keys, operator=operator)
        try:
            return await _dispatch(args, operator, controls)
        except (UnknownAgent, UnknownActivation, UnknownDeadRecord) as exc:
            print(f"botburrow: {exc}", file=sys.stderr)
            return 1
    finally:
        await redis.aclose()


def _store(settings: Settings, redis: Redis, keys: StreamKeys) -> AgentStore | None:
    try:
        return agent_store(settings.agents, redis, prefix=keys.prefix)
    except ConfigurationError:
        return None  # no definitions configured: the agents the poller saw, without definitions


async def _dispatch(args: argparse.Namespace, operator: Operator, controls: Controls) -> int:
    command, action = args.command, args.action
    if command == "agents" and action == "list":
        _print_agents(await operator.agents(), as_json=args.json)
        return 0
    if command == "agents" and action == "show":
        _print_detail(await operator.agent(args.name), as_json=args.json)
        return 0
    if command == "consumption" and action == "list":
        for record in await controls.dead_consumption(limit=args.limit):
            row: dict[str, Any] = {
                "id": record.entry_id,
                "agent_id": record.agent_id,
                "event_id": record.event_id,
                "status": record.status,
                "reason": record.reason,
            }
            print(orjson.dumps(row).decode() if args.json else "  ".join(f"{k}={v}" for k, v in row.items()))
        return 0
    if command == "consumption":
        entries = await controls.replay_consumption(who=who(), ident=None if args.all else args.id)
        print(f"replayed {len(entries)} consumption record(s) into the outbox")
        return 0
    controls_by_name: dict[tuple[str, str], Callable[..., Awaitable[AuditEntry]]] = {
        ("agents", "pause"): controls.pause,
        ("agents", "resume"): controls.resume,
        ("breaker", "reset"): controls.reset_breaker,
        ("activations", "cancel"): controls.cancel,
    }
    target = args.id if command == "activations" else args.name
    entry = await controls_by_name[command, action](target, who=who())
    print(f"{entry.action} {entry.target}: {entry.result}")
    return 0


_COLUMNS = ("NAME", "TYPE", "POOLS", "LAST", "OUTCOME", "SPENT/BUDGET", "BREAKER", "PAUSED", "OPEN")


def _row(state: AgentState) -> tuple[str, ...]:
    last = state.last_activation
    budget = f"{state.daily_budget_usd:.2f}" if state.daily_budget_usd is not None else "?"
    breaker = state.breaker.state
    if state.breaker.half_opens_at is not None:
        breaker += f" until {state.breaker.half_opens_at:%H:%M:%S}Z"
    return (
        state.name,
        state.type or "?",
        ",".join(state.pools),
        f"{last.finished_at or last.started_at:%m-%d %H:%M}Z" if last else "-",
        (last.outcome or "running") if last else "-",
        f"{state.spent_today_usd:.4f}/{budget}",
        breaker,
        "yes" if state.paused else "no",
        f"{len(state.open_activations)} ({state.queued_notifications} notes)" if state.open_activations else "-",
    )


def _print_agents(states: list[AgentState], *, as_json: bool) -> None:
    if as_json:
        for state in states:
            print(orjson.dumps(state.as_dict()).decode())
        return
    rows = [_COLUMNS, *(_row(s) for s in states)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def _print_detail(detail: AgentDetail, *, as_json: bool) -> None:
    if as_json:
        print(orjson.dumps(detail.as_dict()).decode())
        return
    state = detail.state
    _print_agents([state], as_json=False)
    print(f"hub id: {state.hub_id or '-'}   source: {detail.source or '-'}   version: {detail.version or '-'}")
    if state.problem:
        print(f"problem: {state.problem}")
    if state.paused:
        print(f"paused by {state.paused.by} at {state.paused.at:%Y-%m-%d %H:%M:%S}Z")
    print(f"breaker: {state.breaker.state}, {state.breaker.failures} consecutive failure(s)")
    print("limits used today: " + ", ".join(f"{k}={v}" for k, v in detail.limits_today.items()))
    print("recent activations:")
    for a in detail.recent:
        print(f"  {a.started_at:%Y-%m-%d %H:%M:%S}Z  {a.id}#{a.attempt}  {a.outcome or 'running'}  ${a.cost_usd:.4f}")
