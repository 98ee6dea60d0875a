"""What cluster nodes tell each other, without Redis: a relayed command's outcome raises at
the requester exactly the error the owner's connection raised."""

from __future__ import annotations

import pytest

from csms.cluster import wire
from csms.cluster.haproxy import Backend, haproxy_config
from csms.cluster.wire import Fence, Fenced, NotHere, OwnerRecord, Request
from csms.ocpp_errors import (
    CommandQueueFull,
    CommandRejected,
    CommandTimeout,
    OcppError,
    StationNotConnected,
)


def test_a_request_survives_the_wire_with_its_fence() -> None:
    request = Request("n1/7/3", "n1", "CS-1", "Reset", {"type": "Immediate"}, Fence("planner", 4))
    assert Request.decode(request.encode()) == request
    unfenced = Request("n1/7/4", "n1", "CS-1", "Reset", {"type": "OnIdle"})
    assert Request.decode(unfenced.encode()).fence is None


def test_an_answer_comes_back_as_the_payload() -> None:
    assert wire.outcome(wire.reply_ok("r", {"status": "Accepted"})) == {"status": "Accepted"}
    assert wire.reply_id(wire.reply_ok("r", {})) == "r"
    assert wire.reply_id("not json") is None


@pytest.mark.parametrize(
    "error",
    [
        NotHere("moved"),
        Fenced("stale leader"),
        StationNotConnected("gone"),
        CommandTimeout("slow"),
        CommandQueueFull("full"),
    ],
)
def test_each_command_error_is_raised_again_as_itself(error: Exception) -> None:
    with pytest.raises(type(error)) as raised:
        wire.outcome(wire.reply_error("r", error))
    assert type(raised.value) is type(error)
    assert str(raised.value) == str(error)


def test_a_callerror_and_a_schema_error_keep_their_code_and_details() -> None:
    rejected = CommandRejected("NotSupported", "no profiles", {"why": "AC only"})
    with pytest.raises(CommandRejected) as raised:
        wire.outcome(wire.reply_error("r", rejected))
    assert (raised.value.code, raised.value.details) == ("NotSupported", {"why": "AC only"})
    invalid = OcppError("FormatViolation", "type is required")
    with pytest.raises(OcppError) as schema:
        wire.outcome(wire.reply_error("r", invalid))
    assert schema.value.code == "FormatViolation"


def test_an_unexpected_failure_at_the_owner_is_a_rejected_command_not_a_crash() -> None:
    with pytest.raises(CommandRejected, match="InternalError"):
        wire.outcome(wire.reply_error("r", RuntimeError("boom")))


def test_owner_records_round_trip_and_garbage_is_none() -> None:
    record = OwnerRecord("node-a", "v201", "123.4")
    assert OwnerRecord.decode(record.encode()) == record
    assert OwnerRecord.decode("garbage") is None


def test_haproxy_checks_every_process_and_sends_ocpp_as_tcp() -> None:
    text = haproxy_config([Backend("a", 9001, 8081), Backend("b", 9002, 8082)], 9000, 8080)
    assert "server a 127.0.0.1:9001 check port 8081" in text
    assert "server b 127.0.0.1:8082 check port 8082" in text
    assert "bind 127.0.0.1:9000" in text and "option httpchk GET /health" in text
    assert text.count("mode tcp") == 2 and "option redispatch" in text
