from django.conf import settings


def aliases_with_role(role):
    return [alias for alias, db in settings.DATABASES.items() if db.get("ROLE") == role]


class CitusRouter:
    """Runs each Citus app's migrations only on the aliases of its ROLE.

    Without ROLE keys (citusgen's ci profile) neither app migrates anywhere:
    the test database already exists with the cluster set up.
    """

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == "citus_master":
            return db in aliases_with_role("citus_master")
        if app_label == "citus_worker":
            return db in aliases_with_role("citus_worker")
        return None
