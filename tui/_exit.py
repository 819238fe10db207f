"""Exit codes of the termmate command."""

OK = 0
FAILURE = 1
USAGE = 2
"""A bad command line or bad settings."""
NO_MODEL = 3
"""No model can answer; the message says what to set."""
INTERRUPTED = 130
