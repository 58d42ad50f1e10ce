from django.db import migrations


def plain_checkpoint_column(apps, schema_editor):
    """Make ``labeling_response.checkpoint_id`` a plain indexed column, whatever the history.

    A database migrated from scratch has no such column (0002 no longer adds one): add it.
    A database migrated before the change has it as a foreign key into
    ``training_checkpoint``: keep the column and its values, drop the constraint (SQLite
    cannot drop one, so the table is rebuilt from the current state, the way Django's own
    ``alter_field`` does on SQLite). Running it again changes nothing.
    """
    Response = apps.get_model("labeling", "Response")
    field = Response._meta.get_field("checkpoint_id")
    table, column = Response._meta.db_table, field.column
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, table)}
        constraints = connection.introspection.get_constraints(cursor, table)
    if column not in columns:
        schema_editor.add_field(Response, field)
        return
    foreign_keys = [
        name for name, c in constraints.items() if c["foreign_key"] and c["columns"] == [column]
    ]
    if foreign_keys and connection.vendor == "sqlite":
        schema_editor._remake_table(Response)  # also recreates the column's index
        return
    for name in foreign_keys:
        schema_editor.execute(schema_editor._delete_fk_sql(Response, name))
    # the foreign key's own index has the name db_index gives, so it normally stays as is
    if not any(c["index"] and c["columns"] == [column] for c in constraints.values()):
        schema_editor.execute(schema_editor._create_index_sql(Response, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0005_response_checkpoint_id"),
    ]

    operations = [
        # Backwards it leaves the column as it is: the values survive a round trip, and
        # forwards again finds a plain column and does nothing.
        migrations.RunPython(plain_checkpoint_column, migrations.RunPython.noop),
    ]
