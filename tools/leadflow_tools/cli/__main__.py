"""`python -m leadflow_tools.cli`: the `leadflow` command."""

from leadflow_tools.cli import main

main()
