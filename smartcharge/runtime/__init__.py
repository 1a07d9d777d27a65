"""The process around the session core: the daemon loop, its jobs, the health server, and the
one place that builds a daemon from settings (issue 13 item 2).
"""
