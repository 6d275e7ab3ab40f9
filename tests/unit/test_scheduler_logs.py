"""The scheduler's log says what an operator must act on: a job's turn skipped while its last run
still goes is the design (max_instances=1), not a warning (issue 16 point 9: quiet logs)."""

from __future__ import annotations

import logging

from entrypoints.scheduler import TurnSkippedWhileRunning


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("apscheduler.scheduler", logging.WARNING, __file__, 1, message, None, None)


def test_a_turn_skipped_while_the_last_run_goes_is_not_a_warning_but_other_warnings_are():
    kept = TurnSkippedWhileRunning()
    assert not kept.filter(record('Execution of job "graph-sync" skipped: maximum number of running instances '
                                  "reached (1)"))
    assert kept.filter(record('Run time of job "graph-sync" was missed by 0:05:00'))
