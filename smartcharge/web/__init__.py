"""The local HTTP server: ``/healthz``, the JSON API under ``/api`` and the web page (issue 14).

``documents`` builds the API's JSON documents from the daemon's state (pure); ``page`` renders
the page from those documents (pure); the aiohttp parts serve them.
"""
