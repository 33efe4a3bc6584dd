"""``csrnet serve``: a local web page to restore an image. The job queue and its worker
(``jobs``), the Starlette app and its routes (``app``, imported only when serving), the
guard that refuses other sites' requests (``guard``), and the page itself
(``static/serve.html``). It imports ``inference``, ``protocol`` and ``weights``.
"""
