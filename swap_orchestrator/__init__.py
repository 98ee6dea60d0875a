"""Driverless battery swap: bay state machine, queue policy, safety gates, battery choice."""
