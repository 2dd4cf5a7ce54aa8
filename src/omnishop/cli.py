"""The `omnishop` console command: Django's management commands under one name.

`omnishop demo`, `omnishop serve`, `omnishop worker`, `omnishop customers find-duplicates`, and every
Django command (`omnishop migrate`, `omnishop createsuperuser`, ...). Running from a source checkout
defaults to DEBUG so the embedded demo works without configuration.
"""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnishop.settings")
    if not os.environ.get("SECRET_KEY") and "DEBUG" not in os.environ:
        # A checkout with no configuration is a developer's machine: run in development mode.
        os.environ["DEBUG"] = "1"
    from django.core.management import execute_from_command_line

    argv[0] = "omnishop"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
