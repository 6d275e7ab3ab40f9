"""Housekeeping: the operational store forgets what nobody needs any more.

Every scheduled job records each run (`job_runs`): the username changes alone run 288 times a
day, so without this the table grows by some 150,000 rows a year for ever. Runs older than
`PORTH_JOBS__KEEP_RUNS_DAYS` (90 by default) are forgotten, except each job's latest run and
its latest successful one, which `porth jobs list` and the "last success" metric read however
old they are. Expired sessions and sign-in guards are forgotten as they are met (operational/
web_sessions.py, idp/guards.py); the audit log and the workflow logs are kept: what is kept of
them is the local authority's decision, not a job's.
"""

from __future__ import annotations

from datetime import timedelta

from jobs.framework import JobContext, JobResult
from operational import job_runs


def forget_old_job_runs(context: JobContext) -> JobResult:
    result = JobResult()
    keep = timedelta(days=context.settings.keep_job_runs_days)
    result.count("job_runs_forgotten", job_runs.prune_runs(context.db, before=context.now - keep))
    return result
