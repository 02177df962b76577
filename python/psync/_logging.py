# SPDX-License-Identifier: Apache-2.0
"""psync's log lines to the standard :mod:`logging` module, logger ``psync``."""

from __future__ import annotations

import logging

from psync import _ffi

LOGGER = logging.getLogger("psync")
# A library prints nothing by itself: the lines show once the app configures logging.
LOGGER.addHandler(logging.NullHandler())

_LEVELS = {
    _ffi.LogLevel.DEBUG: logging.DEBUG,
    _ffi.LogLevel.INFO: logging.INFO,
    _ffi.LogLevel.WARNING: logging.WARNING,
}


class LogForwarder(_ffi.LogSink):
    """Receives the native log lines (on a psync thread) and logs them to ``psync``."""

    def log(self, level: _ffi.LogLevel, message: str) -> None:
        try:
            LOGGER.log(_LEVELS.get(level, logging.WARNING), message)
        except Exception:  # a broken app handler loses the line, not the SDK
            pass
