"""initserve: initialized neural-network weight tensors over HTTP."""

__version__ = "0.1.0"
