"""Errors that name the input at fault, so a user sees *which file and line* is wrong."""

from __future__ import annotations


class RankDistillError(Exception):
    """Base class of the errors this package raises on bad input or configuration."""


class InputError(RankDistillError, ValueError):
    """Malformed or inconsistent input file; names the file and, where known, the line."""

    def __init__(self, path, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ConfigError(RankDistillError, ValueError):
    """Invalid configuration value; names the config key."""


class UnavailableError(RankDistillError, RuntimeError):
    """A resource (network, Java, an optional package, a GPU) is needed but not present here."""
