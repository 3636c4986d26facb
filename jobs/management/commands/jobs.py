"""`python manage.py jobs SUBCOMMAND`: every runbook action from the shell (see jobs.cli).

By default the shell acts as ``cli:<os user>`` with admin rights (shell access is
admin access); ``--as USER`` acts as a console user, with that user's role.
"""

from __future__ import annotations

import getpass
import sys

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.cli import Session, add_subcommands
from jobs.jobsconfig import ConfigError
from jobs.services.audit import Actor
from jobs.services.errors import ServiceError


class Command(BaseCommand):
    help = "Operate the jobs system: one subcommand per runbook action."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as", dest="as_user", help="act as this console user (with their role)")
        add_subcommands(parser)

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Usage errors raise CommandError (one line, see run_from_argv) instead of
        # argparse's usage block: scripts read one line, as for every other error.
        parser.called_from_command_line = False
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        try:
            super().run_from_argv(argv)
        except CommandError as exc:  # raised while parsing the arguments
            self.stderr.write(f"CommandError: {exc}")
            sys.exit(exc.returncode)

    def handle(self, *args, **options) -> None:
        session = Session(self, _actor(options.get("as_user")))
        try:
            options["run"](session, options)
        except (ServiceError, ConfigError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from None
        except PermissionDenied as exc:
            raise CommandError(f"permission denied: {exc}") from None
        except OSError as exc:  # a file to read or write (exports, imports)
            raise CommandError(f"{exc.filename or 'file'}: {exc.strerror or exc}") from None


def _actor(username: str | None) -> Actor:
    if not username:
        return Actor.cli(f"cli:{getpass.getuser()}")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"--as: no user named {username!r}")
    return Actor.for_user(user, source="cli")
