"""``csrnet serve``: a local web page to restore an image. The job queue and its worker
(``jobs``), the Starlette app and its routes (``app``, imported only when serving), uvicorn
run so that no client holds a connection or the stop (``server``), the guard that refuses
other sites' requests (``guard``), and the page itself
(``static/serve.html``). It imports ``inference``, ``protocol`` and ``weights``.
"""
