"""Accent-blind full-text search on PostgreSQL (see workplan/search.py); nothing on SQLite.

- the `unaccent` extension;
- text search configurations `workplan_en` and `workplan_es`: the built-in `english` and
  `spanish`, with accents removed before stemming and no stop words (every word a
  client types must match);
- on each searched table a stored generated column `search_document`, the row's
  weighted tsvector (titles, names, places and indicators A; descriptions,
  summaries and narratives B), with a GIN index.

The column is not a model field (SQLite has no tsvector), so Django does not select it.
PostgreSQL computes it on every write; it will refuse to change the type of, or drop,
a column the document reads: such a migration drops `search_document` first and adds
it back after. tests/api/test_search.py checks that the column holds what
workplan.search searches.
"""

from django.contrib.postgres.operations import UnaccentExtension
from django.db import migrations

CONFIGS = {"workplan_en": "english", "workplan_es": "spanish"}
WORD_TOKENS = "asciiword, asciihword, hword_asciipart, word, hword, hword_part"
NUMBER_WORD_TOKENS = "numword, numhword, hword_numpart"

# table: {weight: columns}
DOCUMENTS = {
    "workplan_pillar": {"A": ("name_en", "name_es"), "B": ("description_en", "description_es")},
    "workplan_goal": {"A": ("title_en", "title_es"), "B": ("description_en", "description_es")},
    "workplan_agency": {"A": ("acronym", "code", "name_en", "name_es")},
    "workplan_project": {
        "A": ("title_en", "title_es"),
        "B": ("description_en", "description_es"),
    },
    "workplan_meeting": {"A": ("place_en", "place_es"), "B": ("summary_en", "summary_es")},
    "workplan_progressreport": {
        "A": ("indicator_en", "indicator_es"),
        "B": ("narrative_en", "narrative_es"),
    },
}


def config_for(column):
    return {"en": "workplan_en", "es": "workplan_es"}.get(column.rsplit("_", 1)[-1], "simple")


def document_sql(weights):
    return " || ".join(
        f"setweight(to_tsvector('{config_for(column)}'::regconfig, coalesce({column}, '')), "
        f"'{weight}')"
        for weight, columns in weights.items()
        for column in columns
    )


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, language in CONFIGS.items():
        schema_editor.execute(
            f"CREATE TEXT SEARCH DICTIONARY {name}_stem "
            f"(TEMPLATE = pg_catalog.snowball, Language = {language})"
        )
        schema_editor.execute(
            f"CREATE TEXT SEARCH CONFIGURATION {name} (COPY = pg_catalog.{language})"
        )
        schema_editor.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {name} "
            f"ALTER MAPPING FOR {WORD_TOKENS} WITH unaccent, {name}_stem"
        )
        schema_editor.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {name} "
            f"ALTER MAPPING FOR {NUMBER_WORD_TOKENS} WITH unaccent, simple"
        )
    for table, weights in DOCUMENTS.items():
        schema_editor.execute(
            f"ALTER TABLE {table} ADD COLUMN search_document tsvector "
            f"GENERATED ALWAYS AS ({document_sql(weights)}) STORED"
        )
        schema_editor.execute(
            f"CREATE INDEX {table}_search ON {table} USING gin (search_document)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in DOCUMENTS:
        schema_editor.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_document")
    for name in CONFIGS:
        schema_editor.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {name}")
        schema_editor.execute(f"DROP TEXT SEARCH DICTIONARY IF EXISTS {name}_stem")


class Migration(migrations.Migration):
    dependencies = [
        ("workplan", "0008_webhook_delivery_lease"),
    ]

    operations = [
        UnaccentExtension(),
        migrations.RunPython(create, drop),
    ]
