"""btconsole: a keyboard-driven terminal console for managed Azure estates."""

import time as _time

__version__ = "0.1.0"

# When the process began importing btconsole: the start of the warm-start clock
# (btconsole.bench compares the first painted frame with it).
STARTED = _time.perf_counter()
