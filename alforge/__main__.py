"""``python -m alforge`` is the ``alforge`` command."""

from alforge.cli import main

main()
