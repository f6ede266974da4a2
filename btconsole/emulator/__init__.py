"""A local emulator of the Azure REST APIs btconsole uses, served over HTTPS on loopback.

``btconsole demo`` and the test suite run the real SDK clients against it. The server
core (``tls``, ``http``, ``entra``, ``faults``, ``stats``, ``server``, ``serve``) is
described in docs/emulator.md; the estate it serves in docs/emulator-estate.md.
Nothing here imports Textual or an Azure SDK.
"""
