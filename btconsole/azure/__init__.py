"""Thin Azure SDK wrappers: build clients, call them, map models to records.

One module per domain (``subscriptions``, ``arc``, ``circuits``, ``policy``,
``spend``, ``graph``). Nothing here imports Textual; SDK modules are imported lazily,
inside the functions that need them, so importing this package is cheap.
"""
