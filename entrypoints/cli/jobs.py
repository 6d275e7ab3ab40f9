"""`porth scheduler` and `porth jobs list|run`."""

from __future__ import annotations

import logging
import os
import signal
import sys
from datetime import UTC, datetime

import click

from entrypoints.cli.context import counted, settings_of
from operational import job_runs
from operational.statuses import JobOutcome

EXIT_HELD = 3


@click.command("scheduler")
@click.pass_context
def scheduler(ctx: click.Context) -> None:
    """Run the scheduled jobs (one process; a second one started by mistake does no harm)."""
    from entrypoints.runtime import build_runtime, directory_running
    from entrypoints.scheduler import build_scheduler, scheduled_jobs, serve_scheduler_metrics

    settings = settings_of(ctx)
    interrupted = False
    with directory_running(settings), build_runtime(settings) as runtime:
        runtime.db.migrate()
        built = build_scheduler(runtime)
        for job in scheduled_jobs(settings):
            click.echo(f"  {job.name:18} {job.trigger}  {job.description}")
        metrics = serve_scheduler_metrics(settings)
        if metrics is not None:
            host, port = metrics.server_address[:2]
            click.echo(f"Metrics for Prometheus at http://{f'[{host}]' if ':' in host else host}:{port}/metrics")
        click.echo("Scheduler running (Ctrl-C stops it)")
        signal.signal(signal.SIGTERM, _stop_on_terminate)  # `docker compose stop` stops it as Ctrl-C does
        try:
            built.start()
        except (KeyboardInterrupt, SystemExit):  # Ctrl-C is how it stops
            interrupted = True
            # A second Ctrl-C (or `porth demo` passing one on) must not cut the stopping short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            logging.disable(logging.CRITICAL)  # the jobs cut short say so in their runs, not in tracebacks
            _stop_now(built, runtime)
    if interrupted:
        # A job still running sits in a worker thread that Python would wait for at exit (a
        # tenant sync takes minutes, a job waiting for a shared lock up to 20): its run is already
        # recorded as stopped and its locks freed, and each of its changes is one write that the
        # next run finds done or redoes, so the process ends here without waiting for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _stop_on_terminate(_signum, _frame) -> None:
    raise SystemExit(0)


def _stop_now(built, runtime) -> None:
    from jobs.framework import this_process

    click.echo("Scheduler stopping (runs still going are recorded as stopped; the next run does the rest)")
    built.shutdown(wait=False)
    stopped = job_runs.abandon_runs_of(runtime.db, this_process(), datetime.now(UTC),
                                       "stopped with the scheduler before it finished; the next run does the rest")
    if stopped:
        click.echo(f"Stopped {counted(stopped, 'running job')}")


@click.group("jobs")
def jobs() -> None:
    """The scheduled jobs: what they are, when they ran, run one now."""


@jobs.command("list")
@click.pass_context
def list_jobs(ctx: click.Context) -> None:
    """Each job, its schedule, its last run and outcome, and its next run."""
    from entrypoints.runtime import build_runtime
    from entrypoints.scheduler import next_runs, scheduled_jobs
    settings = settings_of(ctx)
    with build_runtime(settings) as runtime:
        runtime.db.migrate()
        job_runs.fail_dead_runs(runtime.db, datetime.now(UTC))  # a run whose scheduler died: failed, not "running"
        last = job_runs.last_runs(runtime.db)
        upcoming = next_runs(runtime)
    click.echo(f"{'job':18} {'schedule':34} {'last run':17} {'outcome':13} {'counts':24} next run")
    for job in scheduled_jobs(settings):
        run = last.get(job.name)
        started = run.started_at.strftime("%Y-%m-%d %H:%M") if run else "never"
        counts = ", ".join(f"{k} {v}" for k, v in run.counts.items()) if run and run.counts else "-"
        following = upcoming.get(job.name)
        click.echo(f"{job.name:18} {str(job.trigger)[:34]:34} {started:17} {(run.outcome if run else '-'):13} "
                   f"{counts[:24]:24} {following.strftime('%Y-%m-%d %H:%M %Z') if following else 'not scheduled'}")
        if run and run.note:
            click.echo(f"{'':18} {run.note}")


@jobs.command("run")
@click.argument("name")
@click.option("--confirm", is_flag=True,
              help="Let a run go ahead that the job would hold (deletions beyond the limit).")
@click.pass_context
def run_job_now(ctx: click.Context, name: str, confirm: bool) -> None:
    """Run one job now (recorded like a scheduled run)."""
    from entrypoints.runtime import build_runtime, directory_running
    from entrypoints.scheduler import run_now, scheduled_jobs

    settings = settings_of(ctx)
    names = [job.name for job in scheduled_jobs(settings)]
    if name not in names:
        raise click.BadParameter(f"no job {name!r}; the jobs are {', '.join(names)}", param_hint="NAME")
    with directory_running(settings), build_runtime(settings) as runtime:
        runtime.db.migrate()
        run = run_now(runtime, name, confirmed=confirm)
    if run is None:
        click.echo(f"{name}: another scheduler is running it now; nothing done")
        return
    counts = ", ".join(f"{k} {v}" for k, v in run.counts.items()) or "nothing to do"
    click.echo(f"{name}: {run.outcome} ({counts}; {counted(run.error_count, 'error')})")
    for error in run.errors[:20]:
        click.echo(f"  {error['record']}: {error['error']}{': ' + error['detail'] if error.get('detail') else ''}")
    if run.note:
        click.echo(run.note)
    if run.outcome is JobOutcome.HELD:
        ctx.exit(EXIT_HELD)
    if run.outcome in (JobOutcome.FAILED, JobOutcome.PARTLY_FAILED):
        ctx.exit(1)  # some of its work failed: a cron or an operator must not read it as done
