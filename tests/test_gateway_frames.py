"""Every inbound frame is validated; bad ones get the right CALLERROR and the link survives."""

from __future__ import annotations

import asyncio
import json

import pytest

from csms.app import Csms
from tests.conftest import PEER_PASSWORD as PASSWORD
from tests.ocpp_wire import WirePeer, open_peer


async def assert_still_usable(peer: WirePeer) -> None:
    answer = await peer.call("Heartbeat", {})
    assert answer[0] == 3


async def test_frame_that_is_not_json_is_dropped_and_the_link_stays_usable(
    peer: WirePeer,
) -> None:
    await peer.send_raw("this is not json {")
    await assert_still_usable(peer)
    assert peer.incoming.empty()


async def test_json_that_is_not_an_ocpp_array_is_dropped(peer: WirePeer) -> None:
    await peer.send_raw(json.dumps({"hello": "world"}))
    await peer.send_raw(json.dumps([2]))
    await assert_still_usable(peer)
    assert peer.incoming.empty()


async def test_broken_call_with_readable_id_gets_rpc_framework_error(peer: WirePeer) -> None:
    await peer.send_raw(json.dumps([2, "m-1", "Heartbeat"]))
    error = await peer.expect_call()
    assert error[:3] == [4, "m-1", "RpcFrameworkError"]
    await assert_still_usable(peer)


async def test_unknown_message_type_gets_message_type_not_supported(peer: WirePeer) -> None:
    await peer.send_raw(json.dumps([7, "m-2", "Heartbeat", {}]))
    error = await peer.expect_call()
    assert error[:3] == [4, "m-2", "MessageTypeNotSupported"]


async def test_unknown_action_gets_not_implemented(peer: WirePeer) -> None:
    answer = await peer.call("MakeCoffee", {})
    assert answer[0] == 4 and answer[2] == "NotImplemented"
    await assert_still_usable(peer)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, "OccurrenceConstraintViolation"),
        ({"idToken": {"idToken": 42, "type": "ISO14443"}}, "TypeConstraintViolation"),
        ({"idToken": {"idToken": "x" * 37, "type": "ISO14443"}}, "TypeConstraintViolation"),
        ({"idToken": {"idToken": "A1", "type": "Passport"}}, "PropertyConstraintViolation"),
        ({"idToken": {"idToken": "A1", "type": "ISO14443"}, "extra": 1}, "FormatViolation"),
    ],
)
async def test_schema_violation_gets_the_matching_error_code(
    peer: WirePeer, payload: dict[str, object], code: str
) -> None:
    answer = await peer.call("Authorize", payload)
    assert answer[0] == 4 and answer[2] == code, answer
    assert answer[3]
    await assert_still_usable(peer)


async def test_frame_over_the_size_limit_closes_with_1009_without_storing(
    csms: Csms, peer: WirePeer
) -> None:
    huge = json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "y" * 70_000}])
    await peer.send_raw(huge)
    await asyncio.wait_for(peer.websocket.wait_closed(), 5)
    assert peer.websocket.close_code == 1009
    again = await open_peer(csms, "CS-1", PASSWORD)
    await assert_still_usable(again)
    await again.close()


async def test_callresult_for_an_unknown_call_is_ignored(peer: WirePeer) -> None:
    await peer.send_raw(json.dumps([3, "never-sent", {}]))
    await assert_still_usable(peer)


async def test_a_frame_nested_thousands_deep_gets_a_format_violation(peer: WirePeer) -> None:
    deep = "[" * 5000 + "]" * 5000
    await peer.send_raw(f'[2, "deep-1", "DataTransfer", {{"vendorId": "x", "data": {deep}}}]')
    error = await peer.expect_call()
    assert error[:3] == [4, "deep-1", "FormatViolation"]
    await peer.send_raw('[2, "deep-2", "Heartbeat", ' + '{"a":' * 3000 + "1" + "}" * 3000 + "]")
    error = await peer.expect_call()
    assert error[:3] == [4, "deep-2", "FormatViolation"]
    await assert_still_usable(peer)


async def test_a_deep_frame_without_a_readable_id_is_dropped(peer: WirePeer) -> None:
    await peer.send_raw("[" * 5000 + "]" * 5000)
    await peer.send_raw("[" * 10_000)
    await assert_still_usable(peer)
    assert peer.incoming.empty()


async def test_brackets_inside_strings_do_not_count_as_nesting(peer: WirePeer) -> None:
    answer = await peer.call("DataTransfer", {"vendorId": "x", "data": "[[[{{{" * 1000})
    assert answer[0] in (3, 4) and answer[2] != "FormatViolation", answer
