"""``csrnet report``: the paper's Tables I-V and the colour tables, built in stages: what is
covered (``settings``), the weights and their scores through the cache (``cells``), the
tables (``tables``, ``studies``), the figures (``figures``), and the Markdown file
(``build``). It imports ``evaluation``, ``inference``, ``protocol``, ``weights`` and
``training.config`` (the recipes of study runs).
"""
