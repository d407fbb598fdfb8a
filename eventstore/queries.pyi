# For type checkers only, never imported: `eventstore.queries` is the repository's top-level
# `queries/` folder, mapped into our namespace by setuptools' package-dir (see pyproject.toml).
# mypy reads source folders under their folder names and can't follow that mapping, so this
# stub names the folder's package as what `eventstore.queries` is. Not shipped in the wheel.
from queries import *  # noqa: F403
from queries import __all__ as __all__
