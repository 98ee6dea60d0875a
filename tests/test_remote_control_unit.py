"""RemoteControl from fakes of its ports: every command's outcome is journalled, whatever the
transport answers."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from typing import Any

import pytest

from csms import ocpp_errors as rpc
from csms.blocks.authorization import Authorization
from csms.blocks.base import BlockContext
from csms.blocks.remote_control import Outcome, RemoteControl
from csms.config import Settings
from tests.fakes import Answer, FakeClock, FakeSender, FakeWriter


class Journal:
    """The command journal as a list of rows."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    async def opened(self, station_id: str, action: str, payload: Any, at: datetime) -> int:
        self.rows.append({"station": station_id, "action": action, "payload": payload})
        return len(self.rows)

    async def closed(self, command_id: int, outcome: Outcome, at: datetime) -> None:
        self.rows[command_id - 1].update(asdict(outcome))


def remote_control(answer: Answer) -> tuple[RemoteControl, FakeSender, Journal]:
    context = BlockContext(FakeWriter(), Settings(), FakeClock())
    sender = FakeSender(lambda *_: answer)
    journal = Journal()
    control = RemoteControl(context, sender, Authorization(context), journal)
    return control, sender, journal


async def test_an_answered_command_returns_the_answer_and_is_journalled() -> None:
    control, sender, journal = remote_control({"status": "Accepted"})
    answer = await control.send("CS-1", "Reset", {"type": "Immediate"})
    assert answer == {"status": "Accepted"}
    assert sender.calls == [("CS-1", "Reset", {"type": "Immediate"})]
    assert journal.rows == [
        {
            "station": "CS-1",
            "action": "Reset",
            "payload": {"type": "Immediate"},
            "status": "answered",
            "response": {"status": "Accepted"},
            "error": None,
        }
    ]


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (rpc.CommandTimeout("CS-1 did not answer Reset within 2 s"), "timeout"),
        (rpc.CommandRejected("NotImplemented", "no reset here", {}), "error"),
        (rpc.StationNotConnected("station CS-1 is not connected"), "failed"),
        (rpc.CommandQueueFull("100 commands already wait for CS-1"), "failed"),
        (
            rpc.OcppError(rpc.ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION, "type is required"),
            "invalid",
        ),
    ],
)
async def test_a_failed_command_raises_and_its_outcome_is_journalled(
    failure: Exception, status: str
) -> None:
    control, _, journal = remote_control(failure)
    with pytest.raises(type(failure)):
        await control.send("CS-1", "Reset", {"type": "Immediate"})
    (row,) = journal.rows
    assert row["status"] == status
    assert row["response"] is None and row["error"]


async def test_a_command_whose_requester_leaves_is_journalled_as_cancelled() -> None:
    context = BlockContext(FakeWriter(), Settings(), FakeClock())
    station_waits = asyncio.Event()

    class Silent(FakeSender):
        async def send(
            self, station_id: str, action: str, payload: dict[str, Any]
        ) -> dict[str, Any]:
            station_waits.set()
            await asyncio.Event().wait()  # the station never answers
            raise AssertionError("unreachable")

    journal = Journal()
    control = RemoteControl(context, Silent(), Authorization(context), journal)
    task = asyncio.create_task(control.send("CS-1", "Reset", {"type": "Immediate"}))
    await station_waits.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [row["status"] for row in journal.rows] == ["cancelled"]
