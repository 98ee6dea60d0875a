"""One module per OCPP functional block: version-agnostic domain services and pure cores."""
