"""The ``eventstore`` script and ``python -m eventstore``: the command line, with Ctrl-C at
any moment, even while its modules load, ending it with exit code 130 and one line on
stderr, not a traceback. (Once a command runs, ``cli_options.HelpGroup`` does the same.)"""

import os
import sys


def main() -> None:
    try:
        from eventstore.cli import app

        app(prog_name="eventstore")
    except KeyboardInterrupt:
        os.write(2, b"interrupted\n")
        sys.exit(130)  # 128 + SIGINT, as cli_options.INTERRUPTED


if __name__ == "__main__":
    main()
