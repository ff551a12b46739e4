"""Log lines as text for a terminal, or as one JSON object per line for a log pipeline (Loki,
Elasticsearch, CloudWatch): `--log-format json` or $AUDIT_LAYER_LOG_FORMAT=json."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage(),
                "process": record.process}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
