"""Customer information (N09, N10): ask stations what they hold on a customer's token
(CustomerInformation -> NotifyCustomerInformation, stored as a report), and "forget this
customer": stations clear what they hold, the CSMS deletes the token and takes it off the
transactions and reservations it kept."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from csms.blocks import bulk
from csms.blocks.base import BlockContext
from csms.blocks.ports import CommandSender
from csms.db.block_models import Reservation
from csms.db.models import IdToken, Transaction, TransactionEvent
from csms.db.writer import Batch

log = logging.getLogger(__name__)

#: What replaces a forgotten token where a record must keep a value.
FORGOTTEN = "forgotten"


class Customers:
    def __init__(self, context: BlockContext, sender: CommandSender):
        self.context = context
        self.sender = sender

    def _request_id(self) -> int:
        # Distinct per second; the reports are found by station and requestId.
        return int(self.context.clock().timestamp()) % (2**31)

    async def forget(
        self, id_token: str, token_type: str, station_ids: Sequence[str]
    ) -> dict[str, Any]:
        """Ask `station_ids` to report and clear the token, then erase it here.

        The CSMS's own erasure does not wait for the stations: an offline station is
        reported (`not_connected`) and can be asked again with the same call."""
        request_id = self._request_id()
        payload = {
            "requestId": request_id,
            "report": True,
            "clear": True,
            "idToken": {"idToken": id_token, "type": token_type},
        }
        results = await bulk.send_to_many(self.sender, station_ids, "CustomerInformation", payload)

        async def erase(batch: Batch) -> dict[str, int]:
            conn = batch.conn
            tokens = (
                await IdToken.filter(id_token=id_token, type=token_type).using_db(conn).delete()
            )
            rows = (
                await Transaction.filter(id_token=id_token, id_token_type=token_type)
                .using_db(conn)
                .values_list("station_id", "transaction_id")
            )
            for station_id, transaction_id in rows:
                for event in await TransactionEvent.filter(
                    station_id=station_id, transaction_id=transaction_id
                ).using_db(conn):
                    if "idToken" in event.payload:
                        event.payload["idToken"] = {"idToken": FORGOTTEN, "type": "Central"}
                        await event.save(using_db=conn, update_fields=["payload"])
            transactions = (
                await Transaction.filter(id_token=id_token, id_token_type=token_type)
                .using_db(conn)
                .update(id_token=None, id_token_type=None)
            )
            reservations = (
                await Reservation.filter(id_token=id_token, id_token_type=token_type)
                .using_db(conn)
                .update(id_token=FORGOTTEN)
            )
            return {
                "tokens": int(tokens),
                "transactions": int(transactions),
                "reservations": int(reservations),
            }

        erased = await self.context.writer.submit(erase)
        log.info("token %s forgotten: %s", id_token, erased)
        return {
            "request_id": request_id,
            "erased": erased,
            "summary": bulk.summary(results),
            "results": results,
        }
