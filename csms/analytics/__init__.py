"""Charging safety analytics (issue 19): streaming detectors over meter values and events."""
