"""`omnishop roles list|sync|assign USERNAME ROLE`: the back-office roles (backoffice/roles.py) from a terminal."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from omnishop.backoffice import roles
from omnishop.core.errors import DomainError


class Command(BaseCommand):
    help = "List the back-office roles, sync their groups' permissions, or give a user a role."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
        listing = sub.add_parser("list", help="Each role, its members and its permissions.")
        listing.add_argument("--permissions", action="store_true", help="Also print every permission.")
        sub.add_parser("sync", help="Make the role groups hold exactly the permissions roles.py lists.")
        assign = sub.add_parser("assign", help="Add USERNAME to ROLE (and make them staff).")
        assign.add_argument("username")
        assign.add_argument("role", choices=list(roles.BY_KEY))

    def handle(self, *args, **options) -> None:
        try:
            getattr(self, "_" + options["action"])(options)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None

    def _list(self, options) -> None:
        from django.contrib.auth.models import Group

        groups = {
            g.name: g
            for g in Group.objects.filter(name__in=[r.name for r in roles.ROLES]).prefetch_related("user_set")
        }
        for role in roles.ROLES:
            group = groups.get(role.name)
            members = sorted(u.get_username() for u in group.user_set.all()) if group else []
            state = "" if group else "  (group missing: run `omnishop roles sync`)"
            self.stdout.write(f"{role.key:17} {role.name}{state}")
            self.stdout.write(f"{'':17} {role.description}")
            self.stdout.write(
                f"{'':17} lands on: {role.desk}; {len(role.permissions)} permissions; "
                f"members: {', '.join(members) or '—'}"
            )
            if options["permissions"]:
                for permission in role.permissions:
                    self.stdout.write(f"{'':19}{permission}")

    def _sync(self, options) -> None:
        report = roles.ensure_roles()
        self.stdout.write(
            f"{len(roles.ROLES)} roles: {len(report.created)} created, {len(report.changed)} corrected."
        )
        for name in report.created:
            self.stdout.write(f"  created   {name}")
        for name in report.changed:
            self.stdout.write(f"  corrected {name}")
        for permission in report.missing:
            self.stderr.write(
                f"  skipped   {permission}: no such permission in this database (not migrated?)"
            )

    def _assign(self, options) -> None:
        role = roles.assign(username=options["username"], role_key=options["role"])
        self.stdout.write(f"{options['username']} is now in {role.name!r} (lands on {role.desk}).")
