"""Simulated outside world: the Wallbox cloud, ENTSO-E and time.

Used by the tests and by ``smartcharge demo``; never imported by the daemon's own path.
"""
