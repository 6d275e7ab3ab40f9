"""Pure account rules: no I/O, no clock (callers pass `now` / `today`)."""
