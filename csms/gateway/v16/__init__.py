"""OCPP 1.6J on the one domain model: its messages translated to and from 2.0.1's."""
