"""The charging session as pure code: its state, the rules it follows, one step of decision.

No I/O, no clock reads, no logging, no ``Settings`` (issue 13 item 1): the runtime hands it
plain values and carries out what it returns.
"""
