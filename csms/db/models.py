"""Tortoise ORM models. They stay in csms/db: the cores see plain values only."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Station(Model):
    id = fields.CharField(max_length=48, primary_key=True)
    password_hash = fields.CharField(max_length=255)
    #: Grid node the station hangs under (see the grid topology), if known.
    node = fields.CharField(max_length=64, null=True)
    #: What BootNotification answers: Accepted, Pending or Rejected (set by the operator).
    registration_status = fields.CharField(max_length=16, default="Accepted")
    vendor_name = fields.CharField(max_length=50, null=True)
    model = fields.CharField(max_length=20, null=True)
    serial_number = fields.CharField(max_length=25, null=True)
    firmware_version = fields.CharField(max_length=50, null=True)
    boot_reason = fields.CharField(max_length=32, null=True)
    last_boot_at = fields.DatetimeField(null=True)
    protocol = fields.CharField(max_length=16, null=True)
    connected = fields.BooleanField(default=False)
    last_seen = fields.DatetimeField(null=True)
    local_list_version = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    #: OCPP security profile the station must connect with at least: 1 basic auth over ws,
    #: 2 basic auth over wss, 3 client certificate over wss (lower is refused: downgrade).
    security_profile = fields.SmallIntField(default=1)
    #: A profile the station was told to move to (A05); it replaces `security_profile`
    #: when the station first connects with it.
    pending_profile = fields.SmallIntField(null=True)
    #: The password before a rotation (A01): still admitted until the station has
    #: connected with the new one, then cleared.
    old_password_hash = fields.CharField(max_length=255, null=True)

    class Meta:
        table = "station"


class Connector(Model):
    id = fields.IntField(primary_key=True)
    station_id = fields.CharField(max_length=48, db_index=True)
    evse_id = fields.IntField()
    connector_id = fields.IntField()
    status = fields.CharField(max_length=16)
    status_at = fields.DatetimeField()

    class Meta:
        table = "connector"
        unique_together = (("station_id", "evse_id", "connector_id"),)


class IdToken(Model):
    id = fields.IntField(primary_key=True)
    id_token = fields.CharField(max_length=255)
    type = fields.CharField(max_length=20, default="ISO14443")
    status = fields.CharField(max_length=16, default="Accepted")
    expires_at = fields.DatetimeField(null=True)
    group_id = fields.CharField(max_length=255, null=True)
    #: Planning priority of the sessions this token starts (higher = served first when the
    #: grid is short; e.g. emergency or fleet vehicles).
    priority = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "id_token"
        unique_together = (("id_token", "type"),)


class Transaction(Model):
    id = fields.IntField(primary_key=True)
    station_id = fields.CharField(max_length=48, db_index=True)
    transaction_id = fields.CharField(max_length=36)
    evse_id = fields.IntField(null=True)
    connector_id = fields.IntField(null=True)
    id_token = fields.CharField(max_length=255, null=True)
    id_token_type = fields.CharField(max_length=20, null=True)
    #: "active" until an Ended event arrives, then "ended".
    state = fields.CharField(max_length=8)
    charging_state = fields.CharField(max_length=20, null=True)
    started_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    stopped_reason = fields.CharField(max_length=32, null=True)
    remote_start_id = fields.BigIntField(null=True)
    energy_wh = fields.FloatField(default=0.0)
    discharged_wh = fields.FloatField(default=0.0)
    #: The pure state machine's state (seqNo ranges, first/last registers) as JSON.
    machine: Any = fields.JSONField()
    seq_gaps: Any = fields.JSONField(default=list)
    #: Data left out of the energy: {flag: count} (csms.blocks.transaction_state.Flag).
    data_quality: Any = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "transaction"
        unique_together = (("station_id", "transaction_id"),)


class Ocpp16Transaction(Model):
    """An integer transactionId the CSMS gave an OCPP 1.6 StartTransaction; the
    `transaction` table keys the transaction by its decimal string. A StartTransaction
    sent again (its response was lost) has the same station, connector and timestamp, and
    gets the same id."""

    id = fields.IntField(primary_key=True)
    station_id = fields.CharField(max_length=48)
    connector_id = fields.IntField()
    started_at = fields.DatetimeField()
    meter_start = fields.BigIntField()
    id_tag = fields.CharField(max_length=20)
    created_at = fields.DatetimeField()

    class Meta:
        table = "ocpp16_transaction"
        unique_together = (("station_id", "connector_id", "started_at"),)


class TransactionEvent(Model):
    id = fields.BigIntField(primary_key=True)
    station_id = fields.CharField(max_length=48)
    transaction_id = fields.CharField(max_length=36)
    seq_no = fields.BigIntField()
    event_type = fields.CharField(max_length=8)
    trigger_reason = fields.CharField(max_length=32)
    timestamp = fields.DatetimeField()
    offline = fields.BooleanField(default=False)
    payload: Any = fields.JSONField()
    received_at = fields.DatetimeField()

    class Meta:
        table = "transaction_event"
        unique_together = (("station_id", "transaction_id", "seq_no"),)


class MeterValue(Model):
    """One sampled value, normalised to W / Wh / percent, from any message that carries it."""

    id = fields.BigIntField(primary_key=True)
    station_id = fields.CharField(max_length=48)
    evse_id = fields.IntField()
    transaction_id = fields.CharField(max_length=36, null=True)
    timestamp = fields.DatetimeField()
    measurand = fields.CharField(max_length=48)
    phase = fields.CharField(max_length=8, null=True)
    context = fields.CharField(max_length=24, null=True)
    location = fields.CharField(max_length=8, null=True)
    value = fields.FloatField()
    unit = fields.CharField(max_length=20, null=True)

    class Meta:
        table = "meter_value"
        indexes = (("station_id", "timestamp"),)


class ChargingNeeds(Model):
    """NotifyEVChargingNeeds as reported, newest per EVSE read by the planner."""

    id = fields.IntField(primary_key=True)
    station_id = fields.CharField(max_length=48)
    evse_id = fields.IntField()
    departure_time = fields.DatetimeField(null=True)
    requested_energy_wh = fields.FloatField(null=True)
    payload: Any = fields.JSONField()
    received_at = fields.DatetimeField()

    class Meta:
        table = "charging_needs"
        unique_together = (("station_id", "evse_id"),)


class DeviceVariable(Model):
    """One attribute of one variable of one component of a station's device model."""

    id = fields.IntField(primary_key=True)
    station_id = fields.CharField(max_length=48, db_index=True)
    component = fields.CharField(max_length=50)
    component_instance = fields.CharField(max_length=50, default="")
    evse_id = fields.IntField(default=0)
    connector_id = fields.IntField(default=0)
    variable = fields.CharField(max_length=50)
    variable_instance = fields.CharField(max_length=50, default="")
    attribute_type = fields.CharField(max_length=8, default="Actual")
    value = fields.TextField(null=True)
    mutability = fields.CharField(max_length=10, null=True)
    characteristics: Any = fields.JSONField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "device_variable"
        unique_together = (
            (
                "station_id",
                "component",
                "component_instance",
                "evse_id",
                "connector_id",
                "variable",
                "variable_instance",
                "attribute_type",
            ),
        )


class StationEvent(Model):
    """Notifications kept as an audit log: NotifyEvent, security events, firmware, logs..."""

    id = fields.BigIntField(primary_key=True)
    station_id = fields.CharField(max_length=48, db_index=True)
    kind = fields.CharField(max_length=40)
    timestamp = fields.DatetimeField()
    payload: Any = fields.JSONField()

    class Meta:
        table = "station_event"


class Command(Model):
    """A CSMS -> station CALL and its outcome."""

    id = fields.BigIntField(primary_key=True)
    station_id = fields.CharField(max_length=48, db_index=True)
    action = fields.CharField(max_length=48)
    payload: Any = fields.JSONField()
    #: sent -> answered (CALLRESULT) | error (CALLERROR) | timeout | invalid (payload broke
    #: the schema) | failed (not connected, queue full) | cancelled (the requester left)
    status = fields.CharField(max_length=12)
    response: Any = fields.JSONField(null=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField()
    completed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "command"


class GridTopology(Model):
    """A loaded grid topology file (as parsed TOML); the newest row is the one in force."""

    id = fields.IntField(primary_key=True)
    document: Any = fields.JSONField()
    loaded_at = fields.DatetimeField()

    class Meta:
        table = "grid_topology"


class GridEvent(Model):
    """A grid operator's request: an import cap (`limit`) or a soft net target (`target`)."""

    id = fields.IntField(primary_key=True)
    node = fields.CharField(max_length=48)
    start = fields.DatetimeField()
    end = fields.DatetimeField()
    kind = fields.CharField(max_length=8)
    max_net_w = fields.FloatField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "grid_event"


class GridPlan(Model):
    """The live planner's current plan (one row, replaced on every replan)."""

    id = fields.IntField(primary_key=True)
    created_at = fields.DatetimeField()
    document: Any = fields.JSONField()

    class Meta:
        table = "grid_plan"


class SwapEvent(Model):
    """The swap orchestrator's event log (swap-scenario format), one row per event."""

    id = fields.BigIntField(primary_key=True)
    station_id = fields.CharField(max_length=48, db_index=True)
    at = fields.DatetimeField()  # when it happened (`t` counts from the service's start)
    t = fields.FloatField()
    kind = fields.CharField(max_length=24)
    record: Any = fields.JSONField()

    class Meta:
        table = "swap_event"


class SwapStationRecord(Model):
    """A swap station's registration (a swap-scenario `stations[]` entry), restored at start.

    `rack` is the rack as of its last swap (the entry's `batteries` list then), `epoch` the
    swap service's time origin when it was registered, so event times run on after a restart.
    """

    id = fields.CharField(max_length=48, primary_key=True)
    spec: Any = fields.JSONField()
    rack: Any = fields.JSONField(null=True)
    epoch = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "swap_station"


class Alert(Model):
    """A safety analytics finding (csms/analytics) and what was done about it."""

    id = fields.BigIntField(primary_key=True)
    station_id = fields.CharField(max_length=48, db_index=True)
    evse_id = fields.IntField(default=0)  # 0: the station as a whole
    transaction_id = fields.CharField(max_length=36, null=True)
    kind = fields.CharField(max_length=24)
    severity = fields.CharField(max_length=8)
    reason = fields.TextField()
    threshold = fields.FloatField()
    score = fields.FloatField()
    readings: Any = fields.JSONField()
    #: alert, derate or stop (the policy's action)
    action = fields.CharField(max_length=8)
    #: The cap a derated EVSE keeps while the alert is not closed.
    derate_w = fields.FloatField(null=True)
    #: open -> acknowledged -> closed
    status = fields.CharField(max_length=12, default="open")
    raised_at = fields.DatetimeField()
    acknowledged_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "alert"
        indexes = (("station_id", "kind", "status"),)


class Certificate(Model):
    """A certificate the CSMS issued (its CA signed a station's CSR) or installed on a
    station, named the way OCPP's CertificateHashData names it: issuer hashes and serial."""

    id = fields.BigIntField(primary_key=True)
    station_id = fields.CharField(max_length=48, null=True, db_index=True)
    #: OCPP certificate type: ChargingStationCertificate, V2GCertificate, CSMSRootCertificate...
    certificate_type = fields.CharField(max_length=40)
    #: issued (signed by the CSMS's CA) or installed (sent with InstallCertificate).
    source = fields.CharField(max_length=12)
    serial_number = fields.CharField(max_length=40, db_index=True)
    #: SHA-256 of the issuer's DER name and of its public key, hex.
    issuer_name_hash = fields.CharField(max_length=128)
    issuer_key_hash = fields.CharField(max_length=128)
    subject = fields.CharField(max_length=255)
    not_after = fields.DatetimeField()
    pem = fields.TextField()
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "certificate"
