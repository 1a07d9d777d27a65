"""Tools beside the product: the backtest and the exact optimum (needs the dev-only HiGHS).

Nothing on the daemon's path imports this package; ``smartcharge backtest`` does.
"""
