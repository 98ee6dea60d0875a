"""Tortoise models of the OCPP 2.0.1 functional blocks beyond the core ones (models.py):
station-set charging limits, reported profiles and EV schedules (K), report parts (N, O),
local list versions (D) and reservations (H)."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class ChargingLimit(Model):
    """A limit an external system (EMS, DSO, ...) set at a station (NotifyChargingLimit),
    in force until a ClearedChargingLimit for its source (and EVSE) arrives."""

    id = fields.IntField(primary_key=True)
    station_id = fields.CharField(max_length=48, db_index=True)
    #: 0: the station as a whole (NotifyChargingLimit without evseId).
    evse_id = fields.IntField(default=0)
    #: EMS, Other, SO, CSO (2.0.1); any string of up to 20 characters in 2.1.
    source = fields.CharField(max_length=20)
    grid_critical = fields.BooleanField(null=True)
    #: The chargingSchedule list as sent (camelCase), or None when it carried none.
    schedule: Any = fields.JSONField(null=True)
    received_at = fields.DatetimeField()
    cleared_at = fields.DatetimeField(null=True)

    class Meta:
        table = "charging_limit"
        indexes = (("station_id", "cleared_at"),)


class ReportedProfile(Model):
    """One charging profile a station reported (ReportChargingProfiles)."""

    id = fields.BigIntField(primary_key=True)
    station_id = fields.CharField(max_length=48, db_index=True)
    request_id = fields.IntField()
    evse_id = fields.IntField()
    source = fields.CharField(max_length=20)  # as ChargingLimit.source
    profile_id = fields.IntField()
    profile: Any = fields.JSONField()
    received_at = fields.DatetimeField()

    class Meta:
        table = "reported_profile"


class EvChargingSchedule(Model):
    """The schedule an EV chose (NotifyEVChargingSchedule), newest per EVSE."""

    id = fields.IntField(primary_key=True)
    station_id = fields.CharField(max_length=48)
    evse_id = fields.IntField()
    time_base = fields.DatetimeField()
    schedule: Any = fields.JSONField()
    received_at = fields.DatetimeField()

    class Meta:
        table = "ev_charging_schedule"
        unique_together = (("station_id", "evse_id"),)


class ReportPart(Model):
    """One part of a multi-part answer to a request: NotifyMonitoringReport,
    NotifyCustomerInformation, NotifyDisplayMessages (kind) for its requestId."""

    id = fields.BigIntField(primary_key=True)
    station_id = fields.CharField(max_length=48)
    kind = fields.CharField(max_length=32)
    request_id = fields.IntField()
    seq_no = fields.IntField()
    tbc = fields.BooleanField(default=False)
    payload: Any = fields.JSONField()
    received_at = fields.DatetimeField()

    class Meta:
        table = "report_part"
        unique_together = (("station_id", "kind", "request_id", "seq_no"),)


class LocalListState(Model):
    """A station's local authorization list as the CSMS knows it: versions handed out
    (never reused, even by concurrent pushes) and the content the station last accepted."""

    station_id = fields.CharField(max_length=48, primary_key=True)
    #: Highest version handed out to a push (accepted or not).
    issued = fields.IntField(default=0)
    #: The version and entries ({"token|type": idTokenInfo}) of the last accepted push.
    version = fields.IntField(default=0)
    entries: Any = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "local_list_state"


class Reservation(Model):
    """A reservation made with ReserveNow; its `id` is the reservation id sent."""

    id = fields.IntField(primary_key=True)
    station_id = fields.CharField(max_length=48, db_index=True)
    evse_id = fields.IntField(null=True)
    connector_type = fields.CharField(max_length=20, null=True)
    id_token = fields.CharField(max_length=36)
    id_token_type = fields.CharField(max_length=20)
    group_id_token = fields.CharField(max_length=36, null=True)
    expires_at = fields.DatetimeField()
    #: requested -> Accepted | Faulted | Occupied | Rejected | Unavailable (the answer),
    #: then Accepted -> Used | Expired | Removed | Cancelled (| NoTransaction in 2.1).
    status = fields.CharField(max_length=20)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "reservation"


class Tariff(Model):
    """A price list (I): per kWh, per hour, per session, with time-of-day energy prices,
    for one token group (or the default when `group_id` is None)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    group_id = fields.CharField(max_length=36, null=True, unique=True)
    currency = fields.CharField(max_length=3, default="EUR")
    energy_price = fields.FloatField(default=0.0)  # per kWh imported
    time_price = fields.FloatField(default=0.0)  # per hour of transaction
    session_fee = fields.FloatField(default=0.0)
    export_credit = fields.FloatField(default=0.0)  # per kWh discharged (V2G)
    #: [{"from": "HH:MM", "to": "HH:MM", "energy_price": x}] in UTC: energy price by time.
    windows: Any = fields.JSONField(default=list)
    created_at = fields.DatetimeField()

    class Meta:
        table = "tariff"


class TransactionCost(Model):
    """The running, then final, cost of a transaction under the tariff chosen at its start."""

    id = fields.IntField(primary_key=True)
    station_id = fields.CharField(max_length=48)
    transaction_id = fields.CharField(max_length=36)
    tariff_id = fields.IntField()
    currency = fields.CharField(max_length=3)
    total = fields.FloatField(default=0.0)
    #: {"energy", "time", "fee", "export_credit"} of the total.
    parts: Any = fields.JSONField(default=dict)
    final = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "transaction_cost"
        unique_together = (("station_id", "transaction_id"),)
