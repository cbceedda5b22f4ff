# A minimal project shaped like CommCare HQ's test setup: the citus_master and
# citus_worker apps set the cluster up through migrations during Django's test
# database creation, routed by each alias's ROLE. localsettings.py (written by
# the Go test) holds citusgen's rendered fragment, as in HQ.
import os

SECRET_KEY = "citusgen-fixture"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "citus_worker",
    "citus_master",
    "ucr",
]
DATABASE_ROUTERS = ["citus_master.router.CitusRouter"]

# What the Go test asks for: Django's own runner, or citusgen's mixin.
TEST_RUNNER = os.environ.get("FIXTURE_TEST_RUNNER", "django.test.runner.DiscoverRunner")

from localsettings import *  # noqa: E402,F401,F403
