"""What every subcommand gets from the global options."""

from __future__ import annotations

import click


class Context:
    """The state directory and verbosity chosen on the command line."""

    def __init__(self, state_dir: str, verbose: bool) -> None:
        self.state_dir = state_dir
        self.verbose = verbose


pass_context = click.make_pass_decorator(Context)
