"""Emulated OCPP 2.0.1 charging stations and EVs, a client of the `ocpp` library."""
