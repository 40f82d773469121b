"""``kisys dashboard``: REST API, live WebSocket and web page over the run history.

The server (:mod:`~pytest_kisys.dashboard.app`) needs the ``dashboard`` extra; the
self-contained HTML report (:mod:`~pytest_kisys.dashboard.html`) and the page's assets
(``static/``) need nothing beyond the standard library.
"""
