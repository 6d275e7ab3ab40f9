"""The scheduled jobs (issue 6): each a function of a JobContext returning a JobResult.
webui/scheduler.py runs them on their schedules; `porth jobs run NAME` runs one now."""
