"""Stored search vectors on matters, tasks and comments, kept by PostgreSQL.

Each table gets a `search_vector` column. On PostgreSQL a BEFORE INSERT OR
UPDATE trigger fills it from the row's text, so every write path (services,
admin, bulk_create, queryset update, raw SQL, COPY) keeps it current, and a
GIN index serves the `@@` match. On SQLite the columns stay empty: search
matches text there (tasks_app.search).

The trigger recomputes only when the text, or the vector itself, changed:
moving a card or assigning it costs no to_tsvector. Writing NULL into the
column always recomputes it, which is also how the existing rows are
filled here (and how a vector could be rebuilt by hand).

The text search configuration is spelled out ('english'), never the
server's default_text_search_config, so the same text always gives the
same vector and the queries (which name it too) match it.
"""

import django.contrib.postgres.search
from django.db import migrations

# table: (the vector's expression over NEW, the columns it is made of)
VECTORS = {
    "tasks_app_matter": (
        # The number whole ('hv' <-> '-001' for "HV-001") and in its parts
        # ('001' alone), so either way of typing it finds the matter.
        "setweight(to_tsvector('english', coalesce(NEW.number, '')), 'A')"
        " || setweight(to_tsvector('english', regexp_replace("
        "coalesce(NEW.number, ''), '[^[:alnum:]]+', ' ', 'g')), 'A')"
        " || setweight(to_tsvector('english', coalesce(NEW.name, '')), 'B')"
        " || setweight(to_tsvector('english', coalesce(NEW.client_name, '')), 'B')",
        ("number", "name", "client_name"),
    ),
    "tasks_app_task": (
        "setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A')"
        " || setweight(to_tsvector('english', coalesce(NEW.description, '')), 'C')",
        ("title", "description"),
    ),
    "tasks_app_comment": (
        "setweight(to_tsvector('english', coalesce(NEW.body, '')), 'C')",
        ("body",),
    ),
}

FUNCTION = """
CREATE FUNCTION {table}_search_vector() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND NEW.search_vector IS NOT NULL
        AND NEW.search_vector = OLD.search_vector
        AND {unchanged}
    THEN
        RETURN NEW;
    END IF;
    NEW.search_vector := {expression};
    RETURN NEW;
END
$$
"""

TRIGGER = """
CREATE TRIGGER {table}_search_vector
BEFORE INSERT OR UPDATE ON {table}
FOR EACH ROW EXECUTE FUNCTION {table}_search_vector()
"""

# NULL is always recomputed: this is how the trigger fills existing rows.
BACKFILL = "UPDATE {table} SET search_vector = NULL"

INDEX = "CREATE INDEX {table}_search_gin ON {table} USING gin (search_vector)"


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, (expression, columns) in VECTORS.items():
        unchanged = " AND ".join(
            f"NEW.{column} IS NOT DISTINCT FROM OLD.{column}" for column in columns
        )
        schema_editor.execute(
            FUNCTION.format(table=table, unchanged=unchanged, expression=expression)
        )
        schema_editor.execute(TRIGGER.format(table=table))
        schema_editor.execute(BACKFILL.format(table=table))
        schema_editor.execute(INDEX.format(table=table))


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in VECTORS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {table}_search_gin")
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS {table}_search_vector ON {table}"
        )
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {table}_search_vector()")


class Migration(migrations.Migration):

    dependencies = [
        ("tasks_app", "0005_review_roadmaps"),
    ]

    operations = [
        migrations.AddField(
            model_name="comment",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(
                editable=False, null=True
            ),
        ),
        migrations.AddField(
            model_name="matter",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(
                editable=False, null=True
            ),
        ),
        migrations.AddField(
            model_name="task",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(
                editable=False, null=True
            ),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
