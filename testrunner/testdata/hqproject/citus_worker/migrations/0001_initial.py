from django.db import migrations


class Migration(migrations.Migration):
    # A worker only needs the extension; the coordinator registers it.
    operations = [
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS citus", migrations.RunSQL.noop),
    ]
