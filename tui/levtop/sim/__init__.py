"""The simulator: a deterministic market model, its scenarios, and emulators of the exchange APIs.

The model lives in :mod:`levtop.sim.market`; :mod:`levtop.sim.samples` turns it into levtop samples.
"""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
