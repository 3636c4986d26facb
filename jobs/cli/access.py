"""Who may use the console and the API: users with one role, API tokens."""

from __future__ import annotations

from django.core.management.base import CommandError

from jobs import selectors
from jobs.cli.base import Session, add_read
from jobs.roles import ROLES
from jobs.services.tokens import token_create, token_revoke
from jobs.services.users import user_set


def register(sub) -> None:
    p = sub.add_parser("user", help="console users")
    usub = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    u = add_read(usub, "add", user_add, "create or update a user with one role")
    u.add_argument("name")
    u.add_argument("--role", required=True, choices=ROLES)
    u.add_argument("--password")

    p = sub.add_parser("token", help="API tokens")
    tsub = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    t = add_read(tsub, "create", create_token, "create a token; prints it as the last line")
    t.add_argument("name", help="the user the token acts as")
    t.add_argument("--label", default="")
    t = add_read(tsub, "revoke", revoke_token)
    t.add_argument("token_id", type=int)


def user_add(session: Session, options: dict) -> None:
    user, created = user_set(
        actor=session.actor, username=options["name"], role=options["role"], password=options["password"]
    )
    session.say(f"{'created' if created else 'updated'} user {user.username} with role {options['role']}")


def create_token(session: Session, options: dict) -> None:
    name = options["name"]
    user = selectors.user_named(name)
    if user is None:
        raise CommandError(f"no user named {name!r}; create it with: jobs user add {name} --role ROLE")
    token, secret = token_create(actor=session.actor, user=user, name=options["label"])
    session.command.stderr.write(f"token {token.pk} for {name}; shown once, store it now:")
    session.say(secret)


def revoke_token(session: Session, options: dict) -> None:
    token = token_revoke(actor=session.actor, token_id=options["token_id"])
    session.say(f"revoked token {token.pk}")
