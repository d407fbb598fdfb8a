"""``python -m eventstore``: the same command line as the ``eventstore`` script."""

from eventstore.cli import app

app(prog_name="eventstore")
