"""Errors of operations (mapped to HTTP centrally in ccp/core/api.py)."""

from ccp.core.errors import NotSupported


class ReportsNeedPostgresql(NotSupported):
    """The historical reports (summary, agents) and their rollup are PostgreSQL SQL (metrics.py)."""

    code = "reports_need_postgresql"
    default_message = "Historical reports are computed in PostgreSQL; set DATABASE_URL (docs/reports.md)."
