"""Local mode as Azure runs it: a stand-in for the Durable Functions extension, replay included.

In Azure, the Durable extension (.NET) owns each orchestration's history. Every time something
happens (the instance starts, an activity finishes, a timer fires, an event is raised) it appends
the news to the history and calls the Python worker with the *whole* history; the SDK
(``azure.durable_functions``) runs the orchestrator generator again from the top, feeding it the
recorded results, and answers with every action the generator has asked for so far. The extension
then replays those actions against its own record (detecting non-determinism), schedules the new
ones and waits for their results.

:class:`DurableDriver` plays the extension's part and leaves every orchestration decision to the
SDK's own code (``df.Orchestrator.create(fn)`` called with the context JSON the extension sends).
So an orchestrator that reads a clock, a file or a random number fails here as it would in Azure,
``task_all([])`` returns ``None`` as it does in Azure, and retries follow the SDK's own bookkeeping
(failed events, then the retry timers the extension schedules).

What it keeps, per instance: the history events exactly as the extension sends them
(``OrchestratorStarted``/``Completed`` with timestamps, ``ExecutionStarted``, ``TaskScheduled``,
``TaskCompleted``/``TaskFailed``, ``SubOrchestrationInstanceCreated``/``Completed``/``Failed``,
``TimerCreated``/``TimerFired``, ``EventRaised``, ``ExecutionCompleted``), an inbox of events not
yet delivered, the runtime status, output, failure and custom status.

How it runs them:

- activities run concurrently, at most ``max_parallel_activities`` at once, started in random order;
  completions reach the orchestrator in random order and random batch sizes (``seed``), so code that
  depends on completion order shows up across seeds;
- inputs and outputs are JSON text in history (activity results, sub-orchestration outputs, events),
  so a value history could not store fails the activity here too;
- sub-orchestrations are instances of their own, with their own histories; the instance id is the
  one the orchestrator gives, or ``<execution id>:<sequence number>`` as the extension derives it;
- a retry waits ``first_retry_interval * retry_interval_scale`` (the SDK has no backoff coefficient;
  the extension's default is 1, so every wait is the first interval);
- timers fire when due on the driver's ``clock``: :class:`SystemClock` (default, real time) or
  :class:`FakeClock`, whose time moves only when nothing else can happen (it then jumps to the next
  timer), so tests of week-long timers take milliseconds. Timers longer than six days are split into
  three-day timers by the SDK, as with the Azure Storage provider;
- the orchestrator's actions are replayed on every episode and compared with the recorded ones (kind,
  activity or orchestrator name, input, sub-orchestration instance id, timer due time); a difference
  fails the instance with a non-determinism error naming the orchestrator, the sequence number and
  both actions.

Public API::

    driver = DurableDriver(ORCHESTRATORS, STEPS, max_parallel_activities=4, listener=None,
                           retry_interval_scale=1.0, seed=0, clock=None, store=None,
                           long_timer=timedelta(minutes=1))
    output = await driver.run("migration", input, instance_id)   # raises OrchestrationFailed
    status = await driver.run(name, input, instance_id, until_idle=True)
    await driver.raise_event(instance_id, "approval", {"approved": True})
    status = await driver.resume(instance_id, until_idle=True)
    driver.status(instance_id) -> InstanceStatus | None;  driver.history(instance_id) -> list[dict]

``run`` starts the instance (a new execution if one with that id already ended) or, when the same
orchestrator with the same input is still running or waiting under that id (e.g. in the ``store``),
continues it. It returns the orchestrator's output, or raises :class:`OrchestrationFailed`
(:class:`NonDeterminismError` when replay found a difference) whose message is the orchestrator's
error. With ``until_idle=True`` it returns an :class:`InstanceStatus` as soon as the instance and its
sub-orchestrations wait on nothing but external events and timers due later than ``long_timer``
(``runtime_status == "Running"``, ``waiting_for`` names the events), or when it completed.

``store=Path`` persists every instance in that folder (``<id>.json`` for state and inbox,
``<id>.history.jsonl`` for the history, appended per episode) after each episode and each raised
event. Another process can build a driver on the same folder and call ``raise_event`` and ``resume``
(or ``run`` with the same arguments): activities that were in flight run again (at-least-once, as in
Azure), pending timers are re-armed, sub-orchestrations continue. A human approval gate is an
orchestrator racing ``wait_for_external_event`` against ``create_timer`` with ``task_any``: the
first command stops at the gate (``until_idle=True``), the next raises the event and resumes.

Listener events (``listener(event, data)``): ``orchestrator_started`` / ``orchestrator_completed``
(``name``, ``instance_id``; completed adds ``output``), ``orchestrator_failed`` (``name``,
``instance_id``, ``error``), ``status`` (``instance_id``, ``name``, ``status``: the custom status,
when an episode changes it), ``activity_started`` / ``activity_completed`` / ``activity_failed``
(``name``, ``input``, ``attempt``, ``instance_id``; ``result`` or ``error``).

Not supported (the instance fails saying so): entities, durable HTTP calls (so no ``EventSent``:
the Python SDK sends events to other instances only through entities).

What the SDK and the extension do that a naive driver would not (all reproduced here):

- ``task_all([])`` returns ``None`` and sends no action; ``len()`` of it fails the orchestrator.
- A ``task_all`` throws into the orchestrator at its first failed task, but the extension's
  ``Task.WhenAll`` waits for all of them: the next call, and the orchestrator's own failure or
  completion, wait until every task of the fan-out is done.
- ``task_any`` over tasks with retries, then moving on while one is still retrying, is non-deterministic
  in Azure: the extension's ``WhenAny`` ends at the first result, so on replay it numbers the next call
  before the retry timer the history recorded first.
- A failed activity reaches the orchestrator as a plain ``Exception("Activity function 'x' failed:
  <Type>: <message> \\n <details JSON>")``, never as its own type; a failed sub-orchestration as
  ``Exception("Orchestrator function 'x' failed: <its error> \\n Message: ..., StackTrace: ...")``.
- Retries wait the first interval every time (no backoff coefficient in the Python SDK), and the
  extension creates a timer after the last failed attempt too before the failure is thrown.
- ``create_timer`` needs an aware UTC datetime (``context.current_utc_datetime + ...``): a naive one
  fails with "can't compare offset-naive and offset-aware datetimes". ``cancel()`` of a timer longer
  than six days does not reach the extension: its pending three-day timer keeps running.
- The Python client posts the input as a JSON string of JSON text (it is encoded twice), which is what
  ``get_input`` decodes; custom status is only reported when truthy.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
import traceback
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable, Generator
from urllib.parse import quote

import azure.durable_functions as df
from azure.durable_functions.models.actions.ActionType import ActionType as A
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as E
from dateutil.parser import parse as parse_datetime

Step = Callable[[dict], Awaitable[Any]]
Orchestrator = Callable[..., Generator]
Listener = Callable[[str, dict], None]

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # the SDK's DATETIME_STRING_FORMAT
#: what the Azure Storage provider tells the SDK: timers longer than 6 days become 3-day timers
MAXIMUM_SHORT_TIMER = "6.00:00:00"
LONG_TIMER_INTERVAL = "3.00:00:00"
ACTIVE = ("Pending", "Running")
#: DTFx OrchestrationStatus values used in ExecutionCompleted
COMPLETED, FAILED = 1, 3
_SCHEDULING = (E.TASK_SCHEDULED, E.TIMER_CREATED, E.SUB_ORCHESTRATION_INSTANCE_CREATED)
_TASK_RESULTS = (E.TASK_COMPLETED, E.TASK_FAILED, E.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
                 E.SUB_ORCHESTRATION_INSTANCE_FAILED)
_NAMESPACE = uuid.UUID("6f1c3d2e-0d8c-4a55-9b1e-2f6f6c9d0a11")


class OrchestrationFailed(Exception):
    """The instance failed. ``str()`` is the orchestrator's error; ``reason`` is it as Azure reports it
    ("Orchestrator function 'x' failed: ..."); ``summary`` its first line, without nested details."""

    def __init__(self, instance_id: str, name: str, error: str, reason: str, details: str | None = None):
        super().__init__(error)
        self.instance_id, self.name, self.error, self.reason, self.details = instance_id, name, error, reason, details

    @property
    def summary(self) -> str:
        return self.error.split(" \n ")[0].splitlines()[0] if self.error else self.reason


class NonDeterminismError(OrchestrationFailed):
    """Replay found an orchestrator asking for something other than what its history records."""


class InstanceConflict(Exception):
    """``run`` was asked to start an instance id that is still running another orchestration or input."""


@dataclass
class InstanceStatus:
    instance_id: str
    name: str
    runtime_status: str  # Pending | Running | Completed | Failed
    output: Any = None
    custom_status: Any = None
    error: str | None = None
    waiting_for: list[str] = field(default_factory=list)  # external events the orchestrator waits for
    timers: list[datetime] = field(default_factory=list)  # pending durable timers
    created_time: str | None = None
    last_updated_time: str | None = None


# -- clocks ------------------------------------------------------------------------------------------


class SystemClock:
    """Real UTC time; timers wait for real."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def timeout_until(self, when: datetime) -> float | None:
        return max(0.0, (when - self.now()).total_seconds())

    async def sleep_until(self, when: datetime, wakeup: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(wakeup.wait(), self.timeout_until(when))
        except asyncio.TimeoutError:
            pass


class FakeClock:
    """Time that stands still while anything can happen, then jumps to the next timer."""

    def __init__(self, start: datetime = datetime(2025, 1, 1, tzinfo=timezone.utc)):
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime (history timestamps are UTC)")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def timeout_until(self, when: datetime) -> float | None:
        return None  # fake time does not pass while activities run

    async def sleep_until(self, when: datetime, wakeup: asyncio.Event) -> None:
        self._now = max(self._now, when)


# -- history events, as the extension serialises them ------------------------------------------------


def _ts(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime(TIME_FORMAT)


def _parse_ts(text: str) -> datetime:
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return parse_datetime(text)


def _event(event_type: E, when: datetime, event_id: int = -1, **fields: Any) -> dict:
    return {"EventType": int(event_type), "EventId": event_id, "IsPlayed": False, "Timestamp": _ts(when), **fields}


def _short(text: Any, limit: int = 300) -> str:
    text = text if isinstance(text, str) else json.dumps(text)
    return text if len(text) <= limit else text[:limit] + "..."


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# -- the extension's side of an episode --------------------------------------------------------------


class _ExtensionError(Exception):
    """Something the extension refuses while replaying the SDK's actions (unknown function, ...)."""


@dataclass
class _Scheduled:
    """A task the replayed actions scheduled, numbered as DTFx numbers them."""

    id: int
    event_type: E
    name: str | None = None
    input: str | None = None  # the SDK's JSON text
    instance_id: str | None = None
    fire_at: datetime | None = None
    attempt: int = 1
    retry_timer: bool = False
    cancelled: bool = False
    call: str = ""

    def describe(self) -> str:
        if self.event_type == E.TIMER_CREATED:
            return "a retry timer" if self.retry_timer else f"create_timer({_ts(self.fire_at)})"
        target = f", instance '{self.instance_id}'" if self.instance_id else ""
        return f"{self.call}('{self.name}'{target}, input={_short(self.input)})"

    def to_event(self, when: datetime) -> dict:
        if self.event_type == E.TASK_SCHEDULED:
            return _event(E.TASK_SCHEDULED, when, self.id, Name=self.name, Version="",
                          Input=json.dumps(self.input))
        if self.event_type == E.TIMER_CREATED:
            return _event(E.TIMER_CREATED, when, self.id, FireAt=_ts(self.fire_at))
        return _event(E.SUB_ORCHESTRATION_INSTANCE_CREATED, when, self.id, Name=self.name, Version="",
                      InstanceId=self.instance_id, Input=json.dumps(self.input))


def _describe_recorded(e: dict) -> str:
    t = e["EventType"]
    if t == E.TASK_SCHEDULED:
        return f"activity '{e['Name']}' with input={_short(_loads(e['Input']))}"
    if t == E.TIMER_CREATED:
        return f"a timer due {e['FireAt']}"
    return f"sub-orchestration '{e['Name']}' (instance '{e['InstanceId']}') with input={_short(_loads(e['Input']))}"


class _Node:
    """A .NET task in the replay: settles once, then runs its continuations."""

    def __init__(self) -> None:
        self.done = False
        self.ok = False
        self._then: list[Callable[[_Node], None]] = []

    def then(self, fn: Callable[["_Node"], None]) -> None:
        if self.done:
            fn(self)
        else:
            self._then.append(fn)

    def settle(self, ok: bool) -> None:
        if self.done:
            return
        self.done, self.ok = True, ok
        callbacks, self._then = self._then, []
        for fn in callbacks:
            fn(self)


class _AllNode(_Node):
    """``Task.WhenAll``: done when every child is done (not at the first failure, unlike the SDK's)."""

    def __init__(self, children: list[_Node]):
        super().__init__()
        self._left = len(children)
        self._failed = False
        if not children:
            self.settle(True)
        for child in children:
            child.then(self._child_done)

    def _child_done(self, child: _Node) -> None:
        self._left -= 1
        self._failed |= not child.ok
        if self._left == 0:
            self.settle(not self._failed)


class _AnyNode(_Node):
    """``Task.WhenAny``: done (successfully) when the first child is done."""

    def __init__(self, children: list[_Node]):
        super().__init__()
        for child in children:
            child.then(lambda _: self.settle(True))


class _RetryNode(_Node):
    """DTFx's RetryInterceptor: attempt; on failure a timer; after the timer the next attempt or the failure
    (a timer follows the last failed attempt too, which the SDK's RetryAbleTask expects)."""

    def __init__(self, replay: "_Replay", attempt: Callable[[int], _Node], options: dict):
        super().__init__()
        self._replay, self._attempt = replay, attempt
        self._interval = timedelta(milliseconds=options["firstRetryIntervalInMilliseconds"]
                                   * replay.retry_interval_scale)
        self._max = options["maxNumberOfAttempts"]
        self._count = 0
        self._next()

    def _next(self) -> None:
        self._count += 1
        self._attempt(self._count).then(self._attempt_done)

    def _attempt_done(self, node: _Node) -> None:
        if node.ok:
            self.settle(True)
        else:
            self._replay.timer(self._replay.now + self._interval, retry=True).then(self._timer_fired)

    def _timer_fired(self, _: _Node) -> None:
        if self._count >= self._max:
            self.settle(False)
        else:
            self._next()


class _Replay:
    """What the extension does with the SDK's answer: replays its actions through a model of the DTFx
    context against the history (numbering tasks, checking recorded ones), and finds the new ones."""

    def __init__(self, driver: "DurableDriver", instance: "_Instance", actions: list[dict]):
        self.driver, self.instance, self.actions = driver, instance, actions
        self.retry_interval_scale = driver.retry_interval_scale
        self.now: datetime = datetime.min.replace(tzinfo=timezone.utc)
        self.seq = 0
        self.scheduled: dict[int, _Scheduled] = {}
        self.pending: dict[int, _Node] = {}
        self.waiters: dict[str, deque[_Node]] = defaultdict(deque)
        self.buffered: dict[str, int] = defaultdict(int)
        self.index = 0
        self.started = False
        self.blocked = False
        self.continue_as_new: tuple[str | None] | None = None
        self.mismatch: str | None = None
        self.error: str | None = None
        self.new: list[_Scheduled] = []

    @property
    def reached_end(self) -> bool:
        """Whether the extension got through every action (only then does it act on isDone or error)."""
        return self.started and not self.blocked and self.index == len(self.actions)

    @property
    def waiting_for(self) -> list[str]:
        return sorted(name for name, q in self.waiters.items() if q)

    def run(self, history: list[dict]) -> "_Replay":
        recorded: set[int] = set()
        try:
            for position, e in enumerate(history):
                t = e["EventType"]
                if t == E.ORCHESTRATOR_STARTED:
                    self.now = _parse_ts(e["Timestamp"])
                elif t == E.EXECUTION_STARTED:
                    self.started = True
                    self._advance()
                elif t in _SCHEDULING:
                    recorded.add(e["EventId"])
                    self.mismatch = self._check(e)
                    if self.mismatch:
                        return self
                elif t in _TASK_RESULTS:
                    node = self.pending.pop(e["TaskScheduledId"], None)
                    if node:
                        node.settle(t in (E.TASK_COMPLETED, E.SUB_ORCHESTRATION_INSTANCE_COMPLETED))
                elif t == E.TIMER_FIRED:
                    node = self.pending.pop(e["TimerId"], None)
                    if node:
                        node.settle(True)
                elif t == E.EVENT_RAISED:
                    if self.waiters[e["Name"]]:
                        self.waiters[e["Name"]].popleft().settle(True)
                    else:
                        self.buffered[e["Name"]] += 1
        except _ExtensionError as err:
            self.error = str(err)
            return self
        self.new = [s for n, s in sorted(self.scheduled.items()) if n not in recorded]
        return self

    def _check(self, e: dict) -> str | None:
        n = e["EventId"]
        mine = self.scheduled.get(n)
        recorded = _describe_recorded(e)
        if mine is None:
            replayed = "nothing (yet) with that number"
        else:
            replayed = mine.describe()
            same = mine.event_type == e["EventType"]
            if same and mine.event_type == E.TIMER_CREATED:
                same = mine.retry_timer or mine.fire_at == _parse_ts(e["FireAt"])
            elif same:
                same = (mine.name == e["Name"] and _loads(mine.input) == _loads(_loads(e["Input"]))
                        and (mine.event_type == E.TASK_SCHEDULED or mine.instance_id == e["InstanceId"]))
            if same:
                return None
        return (f"Non-deterministic orchestrator '{self.instance.name}' (instance '{self.instance.instance_id}'): "
                f"at sequence number {n} the history records {recorded}, but the replay scheduled {replayed}. "
                "An orchestrator must ask for the same things in the same order on every replay: no clock "
                "(use context.current_utc_datetime), no files, no environment, no random numbers.")

    # the top level: ProcessAsyncActionsV2 awaits each action in turn, ignoring failures
    def _advance(self, _: _Node | None = None) -> None:
        self.blocked = False
        while self.index < len(self.actions):
            node = self._invoke(self.actions[self.index])
            self.index += 1
            if not node.done:
                self.blocked = True
                node.then(self._advance)
                return

    def _invoke(self, a: dict) -> _Node:
        t = A(int(a["actionType"]))
        if t == A.CALL_ACTIVITY:
            return self.activity(a["functionName"], a.get("input"), 1, "call_activity")
        if t == A.CALL_ACTIVITY_WITH_RETRY:
            return _RetryNode(self, lambda n: self.activity(a["functionName"], a.get("input"), n,
                                                            "call_activity_with_retry"), a["retryOptions"])
        if t == A.CALL_SUB_ORCHESTRATOR:
            return self.sub_orchestrator(a["functionName"], a.get("input"), a.get("instanceId"),
                                         "call_sub_orchestrator")
        if t == A.CALL_SUB_ORCHESTRATOR_WITH_RETRY:
            return _RetryNode(self, lambda n: self.sub_orchestrator(
                a["functionName"], a.get("input"), a.get("instanceId"), "call_sub_orchestrator_with_retry"),
                a["retryOptions"])
        if t == A.CREATE_TIMER:
            return self.timer(_parse_ts(a["fireAt"]), cancelled=bool(a.get("isCanceled")))
        if t == A.WAIT_FOR_EXTERNAL_EVENT:
            node = _Node()
            name = a["externalEventName"]
            if self.buffered[name]:
                self.buffered[name] -= 1
                node.settle(True)
            else:
                self.waiters[name].append(node)
            return node
        if t == A.WHEN_ALL:
            return _AllNode([self._invoke(c) for c in a["compoundActions"]])
        if t == A.WHEN_ANY:
            if not a["compoundActions"]:
                raise _ExtensionError("The tasks argument contains no tasks (Task.WhenAny of nothing).")
            return _AnyNode([self._invoke(c) for c in a["compoundActions"]])
        if t == A.CONTINUE_AS_NEW:
            self.continue_as_new = (a.get("input"),)
            node = _Node()
            node.settle(True)
            return node
        raise _ExtensionError(f"{t.name} is not supported by the local driver (cli.durable).")

    def _next_id(self) -> int:
        self.seq += 1
        return self.seq - 1

    def activity(self, name: str, input_: str | None, attempt: int, call: str) -> _Node:
        if name not in self.driver.steps:
            raise _ExtensionError(f"The function '{name}' doesn't exist, is disabled, or is not an activity function.")
        return self._schedule(_Scheduled(self._next_id(), E.TASK_SCHEDULED, name, input_, attempt=attempt, call=call))

    def sub_orchestrator(self, name: str, input_: str | None, instance_id: str | None, call: str) -> _Node:
        if name not in self.driver.orchestrators:
            raise _ExtensionError(f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                                  "function.")
        me = self.instance
        if instance_id is not None and (instance_id == me.instance_id or (
                me.parent and instance_id == me.parent["instance_id"])):
            raise _ExtensionError("The instance ID of a sub-orchestration must be different than the instance ID "
                                  "of a parent orchestration.")
        n = self._next_id()
        return self._schedule(_Scheduled(n, E.SUB_ORCHESTRATION_INSTANCE_CREATED, name, input_,
                                         instance_id=instance_id or f"{me.execution_id}:{n}", call=call))

    def timer(self, fire_at: datetime, *, retry: bool = False, cancelled: bool = False) -> _Node:
        item = _Scheduled(self._next_id(), E.TIMER_CREATED, fire_at=fire_at, retry_timer=retry, cancelled=cancelled)
        node = self._schedule(item)
        if cancelled:  # CreateTimer with a cancelled token: the task ends at once (TaskCanceledException)
            self.pending.pop(item.id, None)
            node.settle(False)
        return node

    def _schedule(self, item: _Scheduled) -> _Node:
        self.scheduled[item.id] = item
        node = self.pending[item.id] = _Node()
        return node


# -- instances ----------------------------------------------------------------------------------------


@dataclass
class _Instance:
    instance_id: str
    name: str
    input: str | None  # the raw input as the extension stores it: JSON text of the SDK's JSON text
    execution: int = 0  # how many executions of this instance id came before (restarts, retries)
    parent: dict | None = None  # {"instance_id", "execution_id", "task_id", "name"}
    status: str = "Pending"
    output: Any = None
    error: str | None = None
    reason: str | None = None
    details: str | None = None
    failure_kind: str | None = None  # orchestrator | nondeterminism | extension
    custom_status: Any = None
    history: list[dict] = field(default_factory=list)
    inbox: list[dict] = field(default_factory=list)
    cancelled_timers: set[int] = field(default_factory=set)
    attempts: dict[int, int] = field(default_factory=dict)
    waiting_for: list[str] = field(default_factory=list)
    created: str = ""
    updated: str = ""
    # not persisted
    played: int = 0  # history events before this index were seen by an earlier episode
    saved: int = 0  # history events already in the store
    hydrated: bool = True  # work for outstanding tasks is queued in the driver

    @property
    def execution_id(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.instance_id}#{self.execution}"))

    def to_record(self) -> dict:
        return {"instance_id": self.instance_id, "name": self.name, "input": self.input, "execution": self.execution,
                "parent": self.parent, "status": self.status, "output": self.output, "error": self.error,
                "reason": self.reason, "details": self.details, "failure_kind": self.failure_kind,
                "custom_status": self.custom_status, "inbox": self.inbox,
                "cancelled_timers": sorted(self.cancelled_timers),
                "attempts": {str(k): v for k, v in self.attempts.items()}, "waiting_for": self.waiting_for,
                "history_length": len(self.history), "created": self.created, "updated": self.updated}

    @classmethod
    def from_record(cls, record: dict, history: list[dict]) -> "_Instance":
        inst = cls(**{k: v for k, v in record.items()
                      if k not in ("history_length", "cancelled_timers", "attempts")})
        inst.cancelled_timers = set(record["cancelled_timers"])
        inst.attempts = {int(k): v for k, v in record["attempts"].items()}
        inst.history = history[:record["history_length"]]
        inst.played = inst.saved = len(inst.history)
        for e in inst.history:
            e["IsPlayed"] = e["EventType"] != E.ORCHESTRATOR_STARTED
        inst.hydrated = False
        return inst


@dataclass
class _Work:
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None  # the SDK's JSON text
    attempt: int


@dataclass
class _Timer:
    instance_id: str
    execution_id: str
    timer_id: int
    fire_at: datetime


# -- the driver ---------------------------------------------------------------------------------------


class DurableDriver:
    """Runs orchestrators through the Durable SDK's replay, playing the extension's part in-process."""

    def __init__(
        self,
        orchestrators: dict[str, Orchestrator],
        steps: dict[str, Step],
        *,
        max_parallel_activities: int = 4,
        listener: Listener | None = None,
        retry_interval_scale: float = 1.0,
        seed: int | None = 0,
        clock: SystemClock | FakeClock | None = None,
        store: str | os.PathLike | None = None,
        long_timer: timedelta = timedelta(minutes=1),
    ):
        self.orchestrators = dict(orchestrators)
        self.steps = dict(steps)
        self.max_parallel = max(1, max_parallel_activities)
        self.listener = listener or (lambda event, data: None)
        self.retry_interval_scale = retry_interval_scale
        self.clock = clock or SystemClock()
        self.store = Path(store) if store is not None else None
        self.long_timer = long_timer
        self._rng = random.Random(seed)
        self._handlers: dict[str, Callable[[str], str]] = {}
        self._instances: dict[str, _Instance] = {}
        self._queue: list[_Work] = []
        self._running: dict[asyncio.Task, _Work] = {}
        self._timers: dict[tuple[str, str, int], _Timer] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._crash: BaseException | None = None

    # -- public API ------------------------------------------------------------------------------------

    async def run(self, name: str, input_: Any, instance_id: str, *, until_idle: bool = False) -> Any:
        """Start (or continue) ``instance_id`` and drive it until it ends (or is idle, with ``until_idle``)."""
        if name not in self.orchestrators:
            raise LookupError(f"no orchestrator named '{name}'")
        text = json.dumps(input_)
        raw = json.dumps(text)  # the Python client posts the JSON text as a JSON string: it arrives encoded twice
        inst = self._get(instance_id)
        if inst is not None and inst.status in ACTIVE:
            if inst.name != name or _loads(_loads(inst.input)) != json.loads(text):
                raise InstanceConflict(f"instance '{instance_id}' is still {inst.status.lower()} as '{inst.name}' "
                                       "with another input: resume it, or start another instance id")
            self._hydrate(inst)
        else:
            self._start(name, raw, instance_id, parent=None)
        return await self._drive(instance_id, until_idle)

    async def resume(self, instance_id: str, *, until_idle: bool = False) -> Any:
        """Continue an instance (from the store, or one an earlier ``until_idle`` run left waiting)."""
        inst = self._get(instance_id)
        if inst is None:
            raise LookupError(f"no instance '{instance_id}'" + (f" in {self.store}" if self.store else ""))
        self._hydrate(inst)
        return await self._drive(instance_id, until_idle)

    async def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Deliver an external event (``EventRaised``); it is stored at once and handled by a running or later drive."""
        inst = self._get(instance_id)
        if inst is None or inst.status not in ACTIVE:
            state = "does not exist" if inst is None else f"is {inst.status.lower()}"
            raise LookupError(f"cannot raise '{name}': instance '{instance_id}' {state}")
        inst.inbox.append(_event(E.EVENT_RAISED, self.clock.now(), Name=name, Input=json.dumps(data)))
        self._save(inst)
        self._wake()

    def status(self, instance_id: str) -> InstanceStatus | None:
        inst = self._get(instance_id)
        if inst is None:
            return None
        fired = {e["TimerId"] for e in inst.history + inst.inbox if e["EventType"] == E.TIMER_FIRED}
        timers = sorted(_parse_ts(e["FireAt"]) for e in inst.history if e["EventType"] == E.TIMER_CREATED
                        and e["EventId"] not in fired and e["EventId"] not in inst.cancelled_timers
                        and inst.status in ACTIVE)
        return InstanceStatus(inst.instance_id, inst.name, inst.status, inst.output, inst.custom_status, inst.error,
                              list(inst.waiting_for), timers, inst.created, inst.updated)

    def history(self, instance_id: str) -> list[dict]:
        inst = self._get(instance_id)
        return copy.deepcopy(inst.history) if inst else []

    # -- the drive loop --------------------------------------------------------------------------------

    async def _drive(self, root_id: str, until_idle: bool) -> Any:
        self._bind_loop()
        async with self._lock:
            try:
                while True:
                    root = self._instances[root_id]
                    if root.status not in ACTIVE:
                        break
                    self._wakeup.clear()
                    if self._crash is not None:
                        crash, self._crash = self._crash, None
                        raise crash
                    self._start_activities()
                    ready = [i for i in self._instances.values() if i.inbox and i.status in ACTIVE]
                    if ready:
                        self._episode(self._rng.choice(ready))
                        await asyncio.sleep(0)
                        continue
                    if self._fire_due_timers():
                        continue
                    due = self._next_timer()
                    if self._running:
                        timeout = self.clock.timeout_until(due) if due else None
                        try:
                            await asyncio.wait_for(self._wakeup.wait(), timeout)
                        except asyncio.TimeoutError:
                            pass
                        continue
                    if until_idle and self._idle(root):
                        return self.status(root_id)
                    if due is not None:
                        await self.clock.sleep_until(due, self._wakeup)
                    else:
                        await self._wakeup.wait()
            except BaseException:
                self._abandon(root_id)
                raise
        self._abandon(root_id)  # sub-orchestrations a failed parent left behind stop with it locally
        root = self._instances[root_id]
        if root.status == "Failed":
            raise self._failure(root)
        return self.status(root_id) if until_idle else root.output

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._wakeup, self._lock = loop, asyncio.Event(), asyncio.Lock()

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _tree(self, root: _Instance) -> list[_Instance]:
        out, todo = [], [root]
        while todo:
            inst = todo.pop()
            out.append(inst)
            todo += [c for c in self._instances.values() if c.parent and c.parent["instance_id"] == inst.instance_id
                     and c.parent["execution_id"] == inst.execution_id]
        return out

    def _idle(self, root: _Instance) -> bool:
        tree = {(i.instance_id, i.execution_id) for i in self._tree(root)}
        if any(i.inbox and i.status in ACTIVE for i in self._tree(root)):
            return False
        if any((w.instance_id, w.execution_id) in tree for w in [*self._queue, *self._running.values()]):
            return False
        horizon = self.clock.now() + self.long_timer
        return all(t.fire_at > horizon for t in self._timers.values() if (t.instance_id, t.execution_id) in tree)

    def _abandon(self, root_id: str) -> None:
        """Stop local work for a tree whose drive ended (its root ended, or the drive was cancelled);
        instances left running rehydrate from their history if resumed."""
        root = self._instances.get(root_id)
        if root is None:
            return
        tree = self._tree(root)
        keys = {(i.instance_id, i.execution_id) for i in tree}
        for task, work in list(self._running.items()):
            if (work.instance_id, work.execution_id) in keys:
                task.cancel()
                del self._running[task]
        self._queue = [w for w in self._queue if (w.instance_id, w.execution_id) not in keys]
        self._timers = {k: t for k, t in self._timers.items() if (t.instance_id, t.execution_id) not in keys}
        for inst in tree:
            inst.hydrated = inst.status not in ACTIVE

    def _failure(self, root: _Instance) -> OrchestrationFailed:
        kind = NonDeterminismError if any(i.failure_kind == "nondeterminism" for i in self._tree(root)) \
            else OrchestrationFailed
        return kind(root.instance_id, root.name, root.error or "", root.reason or "", root.details)

    # -- activities ------------------------------------------------------------------------------------

    def _start_activities(self) -> None:
        while self._queue and len(self._running) < self.max_parallel:
            work = self._queue.pop(self._rng.randrange(len(self._queue)))
            task = asyncio.ensure_future(self._run_activity(work))
            self._running[task] = work
            task.add_done_callback(self._activity_done)

    def _activity_done(self, task: asyncio.Task) -> None:
        self._running.pop(task, None)
        if not task.cancelled() and task.exception() is not None and self._crash is None:
            self._crash = task.exception()  # not a step failure (those become TaskFailed): a driver bug
        self._wake()

    async def _run_activity(self, work: _Work) -> None:
        payload = _loads(work.input)
        info = {"name": work.name, "input": payload, "attempt": work.attempt, "instance_id": work.instance_id}
        self.listener("activity_started", info)
        try:
            result = await self.steps[work.name](_loads(work.input))
            text = json.dumps(result)
        except Exception as e:
            message = f"{type(e).__name__}: {e}"
            self.listener("activity_failed", {**info, "error": message})
            details = json.dumps({"$type": "System.Exception, System.Private.CoreLib", "ClassName": "System.Exception",
                                  "Message": f" {message}", "StackTraceString": "".join(traceback.format_exception(e))})
            event = _event(E.TASK_FAILED, self.clock.now(), TaskScheduledId=work.task_id,
                           Reason=f"Activity function '{work.name}' failed:  {message}", Details=details)
        else:
            self.listener("activity_completed", {**info, "result": json.loads(text)})
            event = _event(E.TASK_COMPLETED, self.clock.now(), TaskScheduledId=work.task_id, Result=text)
        self._deliver(work.instance_id, work.execution_id, event)

    def _deliver(self, instance_id: str, execution_id: str, event: dict) -> None:
        inst = self._instances.get(instance_id)
        if inst is not None and inst.execution_id == execution_id and inst.status in ACTIVE:
            inst.inbox.append(event)
            self._wake()

    # -- timers ----------------------------------------------------------------------------------------

    def _next_timer(self) -> datetime | None:
        return min((t.fire_at for t in self._timers.values()), default=None)

    def _fire_due_timers(self) -> bool:
        now = self.clock.now()
        due = [k for k, t in self._timers.items() if t.fire_at <= now]
        for key in sorted(due, key=lambda k: self._timers[k].fire_at):
            t = self._timers.pop(key)
            self._deliver(t.instance_id, t.execution_id,
                          _event(E.TIMER_FIRED, now, TimerId=t.timer_id, FireAt=_ts(t.fire_at)))
        return bool(due)

    # -- instances -------------------------------------------------------------------------------------

    def _start(self, name: str, raw_input: str | None, instance_id: str, parent: dict | None) -> _Instance:
        old = self._get(instance_id)
        self._drop_work(instance_id)
        now = self.clock.now()
        inst = _Instance(instance_id, name, raw_input, execution=old.execution + 1 if old else 0, parent=parent,
                         created=_ts(now), updated=_ts(now))
        inst.saved = -1  # rewrite the history file
        parent_instance = None
        if parent:
            parent_instance = {"Name": parent["name"], "TaskScheduleId": parent["task_id"],
                               "OrchestrationInstance": {"InstanceId": parent["instance_id"],
                                                         "ExecutionId": parent["execution_id"]}}
        inst.inbox.append(_event(E.EXECUTION_STARTED, now, Name=name, Version="", Input=raw_input,
                                 OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": inst.execution_id},
                                 ParentInstance=parent_instance, Tags=None))
        self._instances[instance_id] = inst
        self._save(inst)
        self._wake()
        return inst

    def _episode(self, inst: _Instance) -> None:
        """One orchestrator invocation: deliver a batch of news, run the SDK, act on its answer."""
        now = self.clock.now()
        batch = self._take_batch(inst)
        for e in inst.history[inst.played:]:
            e["IsPlayed"] = e["EventType"] != E.ORCHESTRATOR_STARTED
        inst.played = len(inst.history)
        inst.history.append(_event(E.ORCHESTRATOR_STARTED, now))
        inst.history += batch
        for e in batch:
            if e["EventType"] in (E.TASK_COMPLETED, E.TASK_FAILED):
                inst.attempts.pop(e["TaskScheduledId"], None)
        if inst.status == "Pending":
            inst.status = "Running"
            self.listener("orchestrator_started", {"name": inst.name, "instance_id": inst.instance_id})

        state, error, trace = self._invoke(inst)
        actions = state.get("actions") or [[]]
        if len(actions) != 1:
            replay = _Replay(self, inst, [])
            replay.error = f"expected one list of actions (schema V2/V3), got {len(actions)}"
        else:
            replay = _Replay(self, inst, actions[0]).run(inst.history)

        if state.get("customStatus") is not None and state["customStatus"] != inst.custom_status:
            inst.custom_status = _loads(json.dumps(state["customStatus"]))
            self.listener("status", {"instance_id": inst.instance_id, "name": inst.name, "status": inst.custom_status})
        inst.updated = _ts(now)

        if replay.mismatch:
            self._end(inst, now, failed=(replay.mismatch, replay.mismatch, "", "nondeterminism"))
        elif replay.error:
            self._end(inst, now, failed=(replay.error, replay.error, "", "extension"))
        elif replay.reached_end and error is not None:
            self._end(inst, now, failed=(error, f"Orchestrator function '{inst.name}' failed: {error}",
                                         f"Message: {error}, StackTrace: {trace}", "orchestrator"))
        elif replay.reached_end and state.get("isDone") and replay.continue_as_new:
            inst.history.append(_event(E.ORCHESTRATOR_COMPLETED, now))
            self._save(inst)
            self._start(inst.name, json.dumps(replay.continue_as_new[0]), inst.instance_id, inst.parent)
            return
        elif replay.reached_end and state.get("isDone"):
            self._end(inst, now, output=state.get("output"))
        else:
            for item in replay.new:
                inst.history.append(item.to_event(now))
                self._dispatch(inst, item)
            for item in replay.scheduled.values():
                if item.cancelled:
                    inst.cancelled_timers.add(item.id)
                    self._timers.pop((inst.instance_id, inst.execution_id, item.id), None)
            inst.waiting_for = replay.waiting_for
            inst.history.append(_event(E.ORCHESTRATOR_COMPLETED, now))
        self._save(inst)

    def _invoke(self, inst: _Instance) -> tuple[dict, str | None, str]:
        """Call the SDK as the Python worker does; return its state, its error (if it raised) and a trace."""
        handler = self._handlers.get(inst.name)
        if handler is None:
            handler = self._handlers[inst.name] = df.Orchestrator.create(self.orchestrators[inst.name])
        body = json.dumps({
            "history": inst.history, "input": _loads(inst.input), "instanceId": inst.instance_id,
            "isReplaying": False, "parentInstanceId": inst.parent["instance_id"] if inst.parent else None,
            "upperSchemaVersion": 1, "upperSchemaVersionNew": 2,
            "longRunningTimerIntervalDuration": LONG_TIMER_INTERVAL, "maximumShortTimerDuration": MAXIMUM_SHORT_TIMER,
            "defaultHttpAsyncRequestSleepTimeMillseconds": 30000})
        try:
            return json.loads(handler(body)), None, ""
        except Exception as e:  # the SDK raises with its state after "$OutOfProcData$:"
            text = str(e)
            cause = e.__cause__ or e
            trace = "".join(traceback.format_exception(cause))
            message, label, data = text.partition("\n\n$OutOfProcData$:")
            if label:
                state = json.loads(data)
                return state, state.get("error") or message, trace
            return {"actions": [[]], "isDone": False}, text or type(e).__name__, trace

    def _take_batch(self, inst: _Instance) -> list[dict]:
        """A random non-empty selection of the inbox in random order (external events keep their order)."""
        if inst.status == "Pending":
            started = next(e for e in inst.inbox if e["EventType"] == E.EXECUTION_STARTED)
            inst.inbox.remove(started)
            return [started]
        inbox = inst.inbox
        picked = self._rng.sample(range(len(inbox)), self._rng.randint(1, len(inbox)))
        raised = iter(sorted(i for i in picked if inbox[i]["EventType"] == E.EVENT_RAISED))
        picked = [next(raised) if inbox[i]["EventType"] == E.EVENT_RAISED else i for i in picked]
        batch = [inbox[i] for i in picked]
        taken = set(picked)
        inst.inbox = [e for i, e in enumerate(inbox) if i not in taken]
        return batch

    def _dispatch(self, inst: _Instance, item: _Scheduled) -> None:
        if item.event_type == E.TASK_SCHEDULED:
            inst.attempts[item.id] = item.attempt
            self._queue.append(_Work(inst.instance_id, inst.execution_id, item.id, item.name, item.input, item.attempt))
        elif item.event_type == E.TIMER_CREATED:
            key = (inst.instance_id, inst.execution_id, item.id)
            self._timers[key] = _Timer(*key, item.fire_at)
        else:
            self._start(item.name, json.dumps(item.input), item.instance_id, parent={
                "instance_id": inst.instance_id, "execution_id": inst.execution_id, "task_id": item.id,
                "name": inst.name})

    def _end(self, inst: _Instance, now: datetime, *, output: Any = None,
             failed: tuple[str, str, str, str] | None = None) -> None:
        if failed:
            inst.status = "Failed"
            inst.error, inst.reason, inst.details, inst.failure_kind = failed
            inst.history.append(_event(E.EXECUTION_COMPLETED, now, OrchestrationStatus=FAILED, Result=inst.details,
                                       FailureDetails={"ErrorType": "OrchestrationFailureException",
                                                       "ErrorMessage": inst.reason}))
            self.listener("orchestrator_failed", {"name": inst.name, "instance_id": inst.instance_id,
                                                  "error": inst.error})
        else:
            inst.status, inst.output = "Completed", output
            inst.history.append(_event(E.EXECUTION_COMPLETED, now, OrchestrationStatus=COMPLETED,
                                       Result=json.dumps(output)))
            self.listener("orchestrator_completed", {"name": inst.name, "instance_id": inst.instance_id,
                                                     "output": output})
        inst.history.append(_event(E.ORCHESTRATOR_COMPLETED, now))
        inst.waiting_for = []
        self._drop_work(inst.instance_id)
        self._notify_parent(inst)

    def _drop_work(self, instance_id: str) -> None:
        """Forget queued activities and timers of an instance that ended or starts over (running ones finish;
        their results are dropped, as the extension drops messages for another execution)."""
        self._queue = [w for w in self._queue if w.instance_id != instance_id]
        self._timers = {k: t for k, t in self._timers.items() if t.instance_id != instance_id}

    def _notify_parent(self, child: _Instance) -> None:
        if not child.parent:
            return
        p = child.parent
        now = self.clock.now()
        if child.status == "Completed":
            event = _event(E.SUB_ORCHESTRATION_INSTANCE_COMPLETED, now, TaskScheduledId=p["task_id"],
                           Result=json.dumps(child.output))
        else:
            event = _event(E.SUB_ORCHESTRATION_INSTANCE_FAILED, now, TaskScheduledId=p["task_id"],
                           Reason=child.reason, Details=child.details)
        parent = self._get(p["instance_id"])
        if parent is not None and parent.execution_id == p["execution_id"] and parent.status in ACTIVE:
            parent.inbox.append(event)
            self._save(parent)
            self._wake()

    # -- resuming from history -------------------------------------------------------------------------

    def _hydrate(self, inst: _Instance) -> None:
        """Queue the work an instance loaded from the store (or left by an ended drive) still waits for."""
        if inst.hydrated or inst.status not in ACTIVE:
            return
        inst.hydrated = True
        events = inst.history + inst.inbox
        answered = {e["TaskScheduledId"] for e in events if e["EventType"] in _TASK_RESULTS}
        fired = {e["TimerId"] for e in events if e["EventType"] == E.TIMER_FIRED}
        for e in inst.history:
            t, n = e["EventType"], e["EventId"]
            if t == E.TASK_SCHEDULED and n not in answered:
                self._queue.append(_Work(inst.instance_id, inst.execution_id, n, e["Name"], _loads(e["Input"]),
                                         inst.attempts.get(n, 1)))
            elif t == E.TIMER_CREATED and n not in fired and n not in inst.cancelled_timers:
                key = (inst.instance_id, inst.execution_id, n)
                self._timers[key] = _Timer(*key, _parse_ts(e["FireAt"]))
            elif t == E.SUB_ORCHESTRATION_INSTANCE_CREATED and n not in answered:
                link = {"instance_id": inst.instance_id, "execution_id": inst.execution_id, "task_id": n,
                        "name": inst.name}
                child = self._get(e["InstanceId"])
                if child is None or child.parent != link:
                    self._start(e["Name"], e["Input"], e["InstanceId"], parent=link)
                elif child.status in ACTIVE:
                    self._hydrate(child)
                else:
                    self._notify_parent(child)
        self._wake()

    # -- the store -------------------------------------------------------------------------------------

    def _get(self, instance_id: str) -> _Instance | None:
        inst = self._instances.get(instance_id)
        if inst is None and self.store is not None:
            record_path, history_path = self._paths(instance_id)
            if record_path.exists():
                record = json.loads(record_path.read_text(encoding="utf-8"))
                history = []
                if history_path.exists():
                    with history_path.open(encoding="utf-8") as f:
                        history = [json.loads(line) for line in f if line.strip()]
                inst = self._instances[instance_id] = _Instance.from_record(record, history)
        return inst

    def _paths(self, instance_id: str) -> tuple[Path, Path]:
        stem = "i-" + quote(instance_id, safe="")
        return self.store / f"{stem}.json", self.store / f"{stem}.history.jsonl"

    def _save(self, inst: _Instance) -> None:
        if self.store is None:
            return
        self.store.mkdir(parents=True, exist_ok=True)
        record_path, history_path = self._paths(inst.instance_id)
        if inst.saved < 0 or inst.saved > len(inst.history):
            history_path.write_text("", encoding="utf-8")
            inst.saved = 0
        if inst.saved < len(inst.history):
            with history_path.open("a", encoding="utf-8") as f:
                f.writelines(json.dumps(e) + "\n" for e in inst.history[inst.saved:])
            inst.saved = len(inst.history)
        tmp = record_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(inst.to_record()), encoding="utf-8")
        os.replace(tmp, record_path)


__all__ = ["DurableDriver", "FakeClock", "InstanceConflict", "InstanceStatus", "NonDeterminismError",
           "OrchestrationFailed", "SystemClock"]
