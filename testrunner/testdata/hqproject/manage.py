#!/usr/bin/python3
# Debian's python3-django and python3-psycopg2 install for /usr/bin/python3,
# not for a pyenv or virtualenv python3 that may come first on PATH; the Go
# test runs this file with whichever interpreter imports both.
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
