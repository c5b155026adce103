"""CSV of the reports (`?format=csv` or `Accept: text/csv`): the JSON report's rows, one per line."""

from __future__ import annotations

import csv
import io

from rest_framework.renderers import BaseRenderer

from ..metrics import AGENT_FIELDS, METRICS

SUMMARY_COLUMNS = ("start", "end", *METRICS[:6], "handled", *METRICS[6:])
AGENT_COLUMNS = ("agent_id", "name", "username", *AGENT_FIELDS)


def _cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    # a spreadsheet would run a cell starting with these as a formula (CSV injection)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def report_csv(data: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if "rows" in data:
        writer.writerow(SUMMARY_COLUMNS)
        for row in data["rows"]:
            writer.writerow([_cell(row.get(c)) for c in SUMMARY_COLUMNS])
        total = {**data["total"], "start": data["from"], "end": data["to"]}
        writer.writerow(["total", *[_cell(total.get(c)) for c in SUMMARY_COLUMNS[1:]]])
    else:
        writer.writerow(AGENT_COLUMNS)
        for row in data.get("agents", []):
            writer.writerow([_cell(row.get(c)) for c in AGENT_COLUMNS])
    return out.getvalue()


class CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if not isinstance(data, dict):
            return b""
        return report_csv(data).encode("utf-8")
