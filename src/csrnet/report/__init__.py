"""``csrnet report``: the paper's Tables I-V and the colour tables, built in stages: what is
covered (``settings``), scoring through the cache (``scoring``), the tables (``tables``,
``studies``), the figures (``figures``), and the Markdown file (``build``). It imports
``evaluation``, ``inference``, ``protocol``, ``weights`` and ``training.config`` (the
recipes of study runs).
"""
