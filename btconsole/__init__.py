"""btconsole: a keyboard-driven terminal console for managed Azure estates."""

__version__ = "0.1.0"
