"""Cluster mode: several CSMS processes on one PostgreSQL, coordinated through Redis.

Redis-backed implementations of the ports in `csms.blocks.ports`: a command reaches the
process holding the station's socket (`commands`), every process sees which stations are
linked where (`ownership`), and one process leads the planner (`leader`).
"""
