"""SQLAlchemy 2.0 typed models, one module per aggregate."""

from app.models.catalog import Album, Artist
from app.models.comment import ClassificationEvent, Comment, CommentTag
from app.models.job import ImportJob, JobStatus
from app.models.report_rollup import (
    ReportRollupChange,
    ReportRollupDaily,
    ReportRollupHourly,
    ReportRollupState,
    ReportRollupTagHourly,
)
from app.models.session import LoginEvent, PanelSession
from app.models.summary import Stakeholder, SummaryDelivery, WeeklySummary
from app.models.user import ROLES, LoginThrottle, Role, TokenBlocklist, User

__all__ = [
    "ROLES",
    "Album",
    "Artist",
    "ClassificationEvent",
    "Comment",
    "CommentTag",
    "ImportJob",
    "JobStatus",
    "LoginEvent",
    "LoginThrottle",
    "PanelSession",
    "ReportRollupChange",
    "ReportRollupDaily",
    "ReportRollupHourly",
    "ReportRollupState",
    "ReportRollupTagHourly",
    "Role",
    "Stakeholder",
    "SummaryDelivery",
    "TokenBlocklist",
    "User",
    "WeeklySummary",
]
