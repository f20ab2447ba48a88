"""durable_rules itself: a private host, one ruleset per policy, posting events, freeing.

This is the only module that touches durable_rules. Its pitfalls handled here (all
measured in this project):

- a ruleset fires only its first matching rule per event: one ruleset per policy,
  one rule per ruleset (plus the closing rule below);
- an event that matches nothing raises `MessageNotHandledException`: caught
  (exactly that exception), it means "not eligible";
- a handler with two parameters is taken as asynchronous and its errors are
  swallowed: handlers take exactly one parameter (made by a closure factory);
- a ruleset keeps a state per session id in a fixed cache (1,024 entries;
  MemoryError beyond, then crashes): events, not facts, are posted, always with
  one fixed session id, so no per-profile state accumulates;
- the module-level `durable.lang` host runs background threads that dispatch
  pending actions every 0.2 s, so a handler may run on another thread after
  `post` returned (measured: 3 in 200,000 firings). Rulesets here hang off a
  private host without those threads and are driven synchronously;
- events are serialised here (see `zhida.matcher.realtime_facts` for the numbers
  its JSON reader rejects), not by durable's own writer (json.dumps);
- ruleset names are unique per process here: prefix + policy id + the first 8
  hex digits of the policy's sha256, plus a generation suffix when the same
  version is compiled again while an earlier matcher is alive;
- deleting a ruleset leaks its sessions' pools (about 80 KB each), and deleting
  a session in which no action ever ran crashes the process (its action context
  is uninitialised memory until the first action completes): `delete` posts an
  event only a second, closing rule matches, then deletes the session, then the
  ruleset. That rule cannot match any other event, and the policy's rule cannot
  match the closing event, so "first matching rule" is never in question.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import durable_rules_engine
from durable import engine

from zhida.matcher.realtime_facts import Ctx, Posted, encode
from zhida.rules.policy import Policy

SESSION_ID = "0"  # one fixed session per ruleset: no per-profile state
_EVENT_HEAD = '{"sid":' + json.dumps(SESSION_ID) + ',"t":true'


class _Host(engine.Host):
    """A durable_rules host without its background dispatch threads: we drive it."""

    def _run(self) -> None:
        return None


class _Ruleset(engine.Ruleset):
    """A ruleset that posts event text written here (durable's own writer uses json.dumps)."""

    def post_text(self, text: str) -> Any:
        result = durable_rules_engine.assert_event(self._handle, text)
        return self._handle_result(result, text)

    def delete_session(self) -> None:
        durable_rules_engine.delete_state(self._handle, SESSION_ID)

    def delete(self) -> None:
        durable_rules_engine.delete_ruleset(self._handle)


_HOST: _Host | None = None
_NAMES: set[str] = set()
_NAMES_LOCK = threading.Lock()


def _host() -> _Host:
    global _HOST
    if _HOST is None:
        _HOST = _Host()
    return _HOST


def _claim_name(base: str) -> str:
    with _NAMES_LOCK:
        name, generation = base, 1
        while name in _NAMES:
            generation += 1
            name = f"{base}~{generation}"
        _NAMES.add(name)
        return name


def _release_name(name: str) -> None:
    with _NAMES_LOCK:
        _NAMES.discard(name)


class Fired:
    """Set by a policy's handler when its rule fires."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = False


def handler(flag: Fired) -> Callable[[Any], None]:
    # exactly one parameter: durable_rules takes a two-parameter handler as async
    def eligible(c: Any) -> None:
        flag.value = True

    return eligible


@dataclass(eq=False)
class CompiledPolicy:
    """One policy's ruleset, the values its events post and the flags its rules set."""

    policy: Policy
    name: str
    condition: dict[str, Any]
    posted: list[Posted]
    ruleset: _Ruleset
    fired: Fired
    closed: Fired  # set by the closing rule
    used: bool = False  # an event was posted: the session exists


# The closing rule: only the event posted by delete() carries this property, so no
# other event can match it (and the policy's own rule never matches that event).
_CLOSING = "zhida_close"
_CLOSING_EVENT = '{"sid":' + json.dumps(SESSION_ID) + f',"{_CLOSING}":true}}'


def new_ruleset(
    policy: Policy, name_prefix: str, condition: dict[str, Any], posted: list[Posted]
) -> CompiledPolicy:
    """A ruleset for one policy: its rule (`condition`) and the closing rule."""
    digest = (policy.sha256 or hashlib.sha256(policy.text.encode("utf-8")).hexdigest())[:8]
    name = _claim_name(f"{name_prefix}{policy.id}-{digest}")
    fired, closed = Fired(), Fired()
    rules = {
        "r_0": {"all": [{"m": condition}], "run": handler(fired)},
        "r_1": {"all": [{"m": {_CLOSING: True}}], "run": handler(closed)},
    }
    try:
        ruleset = _Ruleset(name, _host(), rules)
    except BaseException:
        _release_name(name)
        raise
    return CompiledPolicy(policy, name, condition, posted, ruleset, fired, closed)


def event_text(compiled: CompiledPolicy, ctx: Ctx) -> str | None:
    """The event of one profile for one policy, or None when a value to post is unknown
    (durable_rules has no three-valued logic: it cannot judge that profile)."""
    parts = [_EVENT_HEAD]
    for posted in compiled.posted:
        text = encode(posted.compute(ctx), posted.kind)
        if text is None:
            return None
        parts.append(posted.prefix + text)
    return ",".join(parts) + "}"


def post_event(compiled: CompiledPolicy, text: str, flag: Fired | None = None) -> bool:
    """Post one event; True when the policy's rule (or the rule of `flag`) fired."""
    flag = flag or compiled.fired
    flag.value = False
    ruleset = compiled.ruleset
    compiled.used = True
    try:
        state = ruleset.post_text(text)
    except engine.MessageNotHandledException:
        return False  # the event matched nothing: not eligible
    errors: list[BaseException] = []

    def complete(error: BaseException | None, result: Any) -> None:
        if error:
            errors.append(error)

    ruleset.do_actions(state, complete)
    if errors:
        raise errors[0]
    return flag.value


def delete_all(groups: Iterable[list[CompiledPolicy]]) -> None:
    """Free every ruleset of the lists, emptying them (so a second call frees nothing)."""
    for group in groups:
        while group:
            delete(group.pop())


def delete(compiled: CompiledPolicy) -> None:
    """Free a ruleset and its session.

    durable_rules' delete_ruleset frees the session table but not each session's
    pools (about 80 KB once an event was posted), and delete_state reads the
    session's action context, which is uninitialised memory until an action has
    completed (it crashes the process). So an event only the closing rule matches
    runs one action first, then the session is deleted, then the ruleset.
    """
    try:
        if compiled.used and post_event(compiled, _CLOSING_EVENT, compiled.closed):
            compiled.ruleset.delete_session()
    finally:
        compiled.ruleset.delete()
        _release_name(compiled.name)
