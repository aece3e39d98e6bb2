"""The version, on its own: everything that prints it imports only this."""

__version__ = "0.1.0"
