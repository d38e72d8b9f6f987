"""Loading and validating a configuration: the schema (``workflow/schemas/config.schema.yaml``) with
its defaults, grid expansion, then the cross-references a schema cannot express (:mod:`.checks`).

``validate(config)`` fills defaults *in place* (so the Snakefile's global ``config`` is complete)
and raises :class:`ConfigError` listing every problem as ``key.path: message``.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from ..errors import ConfigError
from .checks import check_references
from .grid import expand
from .schema import error_lines, schema, validator_class


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` in place (filling defaults) and return it; raise ConfigError if invalid."""
    if not isinstance(config, dict) or not config:
        raise ConfigError("the configuration is empty: pass --configfile or keep config/config.yaml")
    msgs = error_lines(validator_class()(schema()).iter_errors(config))
    if msgs:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(msgs))
    expand(config)  # grids add students and distillation sets before the cross-reference checks
    check_references(config)
    return config


def load(path: str | os.PathLike) -> dict:
    """Read a YAML config file and validate it."""
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the configuration: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 (byte 0x{e.object[e.start]:02x} at byte offset {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(e, 'problem', None) or e}") from None
    except (ValueError, RecursionError) as e:  # PyYAML: a 4300+ digit integer, nesting too deep
        raise ConfigError(f"{path}: invalid YAML: {str(e)[:160]}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of keys, got a {type(cfg).__name__}")
    try:
        return validate(cfg)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
