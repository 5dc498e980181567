"""farod's log: one JSON object per line on one stream, for farod's own events and every library's.

farod logs through structlog; apscheduler, the Kubernetes client and urllib3 log through the standard
library (and urllib3 also warns through :mod:`warnings`). :func:`configure_logging` sends all of them
through the same processors, so a log shipper sees one format, and one ``log_level`` filters them all.
"""

from __future__ import annotations

import logging
import sys

import structlog

LOG_LEVELS = ("debug", "info", "warning", "error")


def configure_logging(level: str = "info", stream=sys.stdout) -> None:
    """Every log line as JSON on ``stream``: timestamp, level, event, the event's fields (and, for
    standard-library records, the logger's name); lines below ``level`` are dropped."""
    threshold = logging.getLevelNamesMapping()[level.upper()]
    stamped = [structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True)]
    structlog.configure(
        processors=[*stamped, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*stamped, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(threshold)
    # apscheduler reports every job run at info: twice per tick, noise beside the decision lines
    logging.getLogger("apscheduler").setLevel(threshold if threshold == logging.DEBUG else logging.WARNING)
    logging.captureWarnings(True)  # warnings.warn (urllib3's InsecureRequestWarning) -> logger py.warnings
