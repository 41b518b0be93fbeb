"""Run Durable Functions orchestrator generators in-process, without the Durable engine.

The CLI uses this to drive *the same* orchestrator code that runs in Azure. It is deliberately not a
second durable engine: there is no history and no replay. When the generator yields a task, the
driver runs it (an activity step, a sub-orchestration, or a fan-out of several) and sends the result
back, exactly as the Durable SDK's ``orchestrator_generator_wrapper`` does in unit
tests. Resumability in local mode comes from the steps themselves: they are idempotent and find
their earlier output in staging.

Inputs and outputs cross a JSON round trip, as they do through Durable history, so a step that
returns something history could not store fails here too.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Generator

Step = Callable[[dict], Awaitable[dict]]
Orchestrator = Callable[["LocalContext"], Generator]
Listener = Callable[[str, dict], None]


@dataclass
class LocalTask:
    kind: str  # "activity" | "orchestrator" | "all"
    name: str | None = None
    input: Any = None
    attempts: int = 1
    retry_interval_ms: int = 0
    instance_id: str | None = None
    children: list["LocalTask"] = field(default_factory=list)
    result: Any = None


class LocalContext:
    """The subset of ``DurableOrchestrationContext`` our orchestrators use."""

    def __init__(self, instance_id: str, input: Any, listener: Listener):
        self.instance_id = instance_id
        self._input = input
        self._listener = listener
        self.is_replaying = False
        self.custom_status: Any = None

    def get_input(self) -> Any:
        return self._input

    @property
    def current_utc_datetime(self) -> datetime:
        return datetime.now(timezone.utc)

    def new_uuid(self) -> str:
        return str(uuid.uuid4())

    def set_custom_status(self, status: Any) -> None:
        self.custom_status = status
        self._listener("status", {"instance_id": self.instance_id, "status": status})

    def call_activity(self, name: str, input_: Any = None) -> LocalTask:
        return LocalTask("activity", name, input_)

    def call_activity_with_retry(self, name: str, retry_options: Any, input_: Any = None) -> LocalTask:
        return LocalTask("activity", name, input_, attempts=retry_options.max_number_of_attempts,
                         retry_interval_ms=retry_options.first_retry_interval_in_milliseconds)

    def call_sub_orchestrator(self, name: str, input_: Any = None, instance_id: str | None = None) -> LocalTask:
        return LocalTask("orchestrator", name, input_, instance_id=instance_id)

    def task_all(self, tasks: list[LocalTask]) -> LocalTask:
        return LocalTask("all", children=list(tasks))


def _roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value))


class LocalDriver:
    def __init__(
        self,
        orchestrators: dict[str, Orchestrator],
        steps: dict[str, Step],
        *,
        max_parallel_activities: int = 4,
        listener: Listener | None = None,
        retry_interval_scale: float = 1.0,
    ):
        self.orchestrators = orchestrators
        self.steps = steps
        self.max_parallel = max_parallel_activities
        self.listener = listener or (lambda event, data: None)
        self.retry_interval_scale = retry_interval_scale
        self._slots: asyncio.Semaphore | None = None

    async def run(self, name: str, input_: Any, instance_id: str) -> Any:
        self._slots = self._slots or asyncio.Semaphore(self.max_parallel)
        ctx = LocalContext(instance_id, _roundtrip(input_), self.listener)
        gen = self.orchestrators[name](ctx)
        self.listener("orchestrator_started", {"name": name, "instance_id": instance_id})
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                task = gen.throw(error) if error is not None else gen.send(value)
            except StopIteration as stop:
                self.listener("orchestrator_completed", {"name": name, "instance_id": instance_id})
                return _roundtrip(stop.value)
            try:
                value, error = await self._execute(task), None
            except Exception as e:  # thrown back into the generator, as Durable does
                value, error = None, e

    async def _execute(self, task: LocalTask) -> Any:
        if task.kind == "all":
            results = await asyncio.gather(*(self._execute(t) for t in task.children), return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException):
                    raise r
            return list(results)
        if task.kind == "orchestrator":
            return await self.run(task.name, task.input, task.instance_id or str(uuid.uuid4()))
        return await self._activity(task)

    async def _activity(self, task: LocalTask) -> Any:
        step = self.steps[task.name]
        for attempt in range(1, task.attempts + 1):
            async with self._slots:
                self.listener("activity_started", {"name": task.name, "input": task.input, "attempt": attempt})
                try:
                    result = _roundtrip(await step(_roundtrip(task.input)))
                except Exception as e:
                    self.listener("activity_failed", {"name": task.name, "input": task.input, "error": repr(e),
                                                      "attempt": attempt})
                    if attempt == task.attempts:
                        raise
                else:
                    self.listener("activity_completed", {"name": task.name, "input": task.input, "result": result})
                    return result
            await asyncio.sleep(task.retry_interval_ms / 1000 * self.retry_interval_scale * attempt)
        raise AssertionError("unreachable")
