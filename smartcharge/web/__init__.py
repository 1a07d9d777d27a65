"""The local HTTP server: ``/healthz``, the JSON API under ``/api`` and the web page (issue 14).

``documents`` builds the API's JSON documents from the daemon's facts (``view.ApiFacts``, pure);
``page`` renders the page from those documents (pure); ``health`` judges ``/healthz`` (pure);
``body`` reads what a caller sends and ``auth`` decides who may call (pure); the aiohttp parts
serve them: ``server`` (the guard, ``/healthz``), ``api`` (``/api/*``), ``page_routes`` (``/``),
``writes`` (every write: limited, bounded). ``runtime.compose.daemon_view`` is the daemon's side.
"""
