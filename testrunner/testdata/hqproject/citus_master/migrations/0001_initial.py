from django.conf import settings
from django.db import migrations


def worker_addresses():
    """How the coordinator reaches each worker: CITUS_NODE_NAME ('host:port'),
    else the alias's HOST and PORT."""
    for db in settings.DATABASES.values():
        if db.get("ROLE") != "citus_worker":
            continue
        node_name = db.get("CITUS_NODE_NAME")
        if node_name:
            host, _, port = node_name.rpartition(":")
        else:
            host, port = db["HOST"], db["PORT"]
        yield host, int(port)


def register_workers(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for host, port in worker_addresses():
            cursor.execute("SELECT master_add_node(%s, %s)", [host, port])


class Migration(migrations.Migration):
    operations = [
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS citus", migrations.RunSQL.noop),
        migrations.RunPython(register_workers, migrations.RunPython.noop),
    ]
