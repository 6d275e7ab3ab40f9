"""The portal (Flask), the `porth` command line and the process entry points."""
