"""Group commit: write operations from many connections share one database transaction.

A caller awaits `submit(op)`; its op runs inside a transaction together with up to
`max_batch` other ops that arrived within `window` seconds, and the caller resumes only
after that transaction committed. So an acknowledgement sent after `submit` returns is
always for durable data, and one fsync serves the whole batch. Ops may also hand rows to
the batch (`Batch.insert`, `Batch.update`, or as plain field values with `insert_values`
and `update_values`, which skip building ORM objects on hot paths), which writes them with
one statement per table just before the commit, and register `on_commit` callbacks (e.g.
cache updates) that run only once the data is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tortoise import timezone
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import Field
from tortoise.models import Model
from tortoise.transactions import in_transaction

log = logging.getLogger(__name__)

T = TypeVar("T")


class Batch:
    """What one group commit writes: direct statements on `conn` plus deferred bulk rows."""

    def __init__(self, conn: BaseDBAsyncClient):
        self.conn = conn
        self._inserts: dict[type[Model], list[Model]] = {}
        self._insert_values: dict[type[Model], list[dict[str, Any]]] = {}
        #: (model, fields) -> [(primary key, values of `fields`), ...]
        self._updates: dict[tuple[type[Model], tuple[str, ...]], list[tuple[Any, tuple[Any, ...]]]]
        self._updates = {}
        self._after_commit: list[Callable[[], None]] = []
        #: Scratch space for ops of the same batch (e.g. state written but not yet committed).
        self.shared: dict[str, Any] = {}

    def insert(self, row: Model) -> None:
        self._inserts.setdefault(type(row), []).append(row)

    def insert_values(self, model: type[Model], values: dict[str, Any]) -> None:
        """Insert a row given as field values (fields left out take their default)."""
        self._insert_values.setdefault(model, []).append(values)

    def update(self, row: Model, fields: tuple[str, ...]) -> None:
        """Write `fields` of an existing row (by primary key)."""
        values = tuple(getattr(row, name) for name in fields)
        self._updates.setdefault((type(row), fields), []).append((row.pk, values))

    def update_values(self, model: type[Model], pk: Any, values: dict[str, Any]) -> None:
        """Write `values` (field -> value) into the row of `model` with primary key `pk`."""
        fields = tuple(values)
        self._updates.setdefault((model, fields), []).append((pk, tuple(values.values())))

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    async def flush(self) -> None:
        for model, rows in self._inserts.items():
            await model.bulk_create(rows, using_db=self.conn)
        for model, value_rows in self._insert_values.items():
            # The prepared INSERT that bulk_create runs, fed column values directly: building
            # a Model per row costs several times what the insert itself does.
            executor = self.conn.executor_class(model=model, db=self.conn)
            field_map = model._meta.fields_map
            columns = [(name, field_map[name]) for name in executor.regular_columns]
            await self.conn.execute_many(
                executor.insert_query,
                [
                    [
                        field.to_db_value(row[name] if name in row else _default(field), model)
                        for name, field in columns
                    ]
                    for row in value_rows
                ],
            )
        for (model, fields), updates in self._updates.items():
            # One prepared UPDATE ... WHERE pk=? run for every row (executemany); tortoise's
            # bulk_update builds a CASE expression per field instead, far slower to render.
            executor = self.conn.executor_class(model=model, db=self.conn)
            sql = executor.get_update_sql(list(fields), None)
            field_map = model._meta.fields_map
            pk_field = model._meta.pk
            await self.conn.execute_many(
                sql,
                [
                    [
                        field_map[name].to_db_value(value, model)
                        for name, value in zip(fields, values, strict=True)
                    ]
                    + [pk_field.to_db_value(pk, model)]
                    for pk, values in updates
                ],
            )

    def committed(self) -> None:
        for callback in self._after_commit:
            try:
                callback()
            except Exception:
                log.exception("after-commit callback failed")


def _default(field: Field[Any]) -> Any:
    """What a Model would hold for a field it was not given."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return timezone.now()
    return field.default() if callable(field.default) else field.default


WriteOp = Callable[[Batch], Awaitable[T]]


@dataclass(slots=True)
class _Pending(Generic[T]):
    op: WriteOp[T]
    future: asyncio.Future[T] = field(repr=False)


class WriterClosed(RuntimeError):
    """The writer is stopping; nothing more is accepted (and nothing was acknowledged)."""


class DurableWriter:
    """Runs write ops in batched transactions.

    :param window: how long (s) the first op of a batch waits for companions; bounds the
        latency that group commit adds to a lone write.
    :param max_batch: most ops in one transaction; bounds how long one commit holds the
        database and how much is retried one by one if the batch fails.
    :param max_queue: ops waiting to be written; a full queue makes `submit` wait, which
        pushes back on the connections instead of growing memory without bound.
    """

    def __init__(self, window: float = 0.002, max_batch: int = 512, max_queue: int = 10000):
        self.window = window
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending[Any]] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0
        self.ops = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="durable-writer")

    async def stop(self) -> None:
        """Write everything already submitted, then stop."""
        self._closing = True
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def submit(self, op: WriteOp[T]) -> T:
        if self._closing:
            raise WriterClosed("the CSMS is shutting down")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(op, future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            deadline = asyncio.get_running_loop().time() + self.window
            while len(batch) < self.max_batch:
                timeout = deadline - asyncio.get_running_loop().time()
                try:
                    if self._queue.empty() and timeout > 0:
                        batch.append(await asyncio.wait_for(self._queue.get(), timeout))
                    else:
                        batch.append(self._queue.get_nowait())
                except (TimeoutError, asyncio.QueueEmpty):
                    break
            try:
                await self._write(batch)
            except Exception:
                # _write settles every future itself; never let the writer task die.
                log.exception("group commit failed")
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, pending: list[_Pending[Any]]) -> None:
        live = [item for item in pending if not item.future.done()]
        if not live:
            return
        try:
            async with in_transaction() as conn:
                batch = Batch(conn)
                results = [await item.op(batch) for item in live]
                await batch.flush()
        except Exception as error:
            if len(live) > 1:
                # One bad op must not fail its neighbours: retry each in its own transaction.
                log.warning("group commit of %d ops failed; retrying one by one", len(live))
                for item in live:
                    await self._write([item])
                return
            log.exception("write failed")
            if not live[0].future.done():
                live[0].future.set_exception(error)
            return
        batch.committed()
        self.batches += 1
        self.ops += len(live)
        for item, result in zip(live, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)
