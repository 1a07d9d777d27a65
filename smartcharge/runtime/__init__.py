"""The process around the session core (issue 13 item 2).

``jobs``: the scheduler and the simulated driver; ``health``: the ``/healthz`` server;
``compose``: the one place that builds a daemon from settings; ``serve``: ``smartcharge run``;
``envwatch``: notices edits of the ``.env``.
"""
