"""How Porth is started: the `porth` command, the gunicorn web server, the scheduler process, and
the runtime they build (settings, directory store, operational database)."""
