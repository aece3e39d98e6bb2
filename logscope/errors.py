"""Errors that reach the operator as one clear line (the CLI prints them without a traceback)."""


class LogscopeError(Exception):
    """A problem with the operator's input or options, stated in one line."""


class InputError(LogscopeError):
    """An input cannot be read: missing, unreadable, truncated, empty or in no known format."""


class FormatError(LogscopeError):
    """A log format given by the operator (--log-format, --nginx-conf, --field) is not usable."""
