"""``python -m idservice.cli``: the same as the ``kentcard`` command."""

from idservice.cli import main

main()
