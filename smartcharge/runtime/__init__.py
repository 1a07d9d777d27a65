"""The process around the session core (issue 13 item 2).

The daemon loop, its jobs, the health server, and the one place that builds a daemon from
settings.
"""
