"""Full-text search over the knowledge base (知识库全文检索) on both databases.

``Article.search_text`` holds the title, keywords and body already segmented into words by
jieba and joined by spaces (``engine/segment.py``); the databases only split on the spaces.

PostgreSQL: a GIN index on the expression ``to_tsvector('simple', search_text)``; the
selector matches and ranks with the same expression (``ts_rank``), so the index is used.
SQLite: an external-content FTS5 table ``workorders_article_fts`` (one column,
``search_text``, rowid = the article's id) kept in sync by triggers on
``workorders_article``, ranked with ``bm25``. Triggers rather than the service: every
writer (the service, the admin, a fixture, a raw UPDATE) keeps the index right.

A later migration that rebuilds ``workorders_article`` on SQLite (Django's table remake on
most ``AlterField``) drops the triggers with the old table: call ``sqlite_fts_install``
of this module again after it (``tests/test_knowledge_search.py`` checks they exist).
"""

from django.db import migrations

PG_FORWARD = [
    "CREATE INDEX IF NOT EXISTS workorders_article_search_gin ON workorders_article "
    "USING gin (to_tsvector('simple'::regconfig, search_text));",
]
PG_BACKWARD = ["DROP INDEX IF EXISTS workorders_article_search_gin;"]

SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS workorders_article_fts_ai AFTER INSERT ON workorders_article BEGIN "
    "INSERT INTO workorders_article_fts(rowid, search_text) VALUES (new.id, new.search_text); END;",
    "CREATE TRIGGER IF NOT EXISTS workorders_article_fts_ad AFTER DELETE ON workorders_article BEGIN "
    "INSERT INTO workorders_article_fts(workorders_article_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END;",
    "CREATE TRIGGER IF NOT EXISTS workorders_article_fts_au "
    "AFTER UPDATE OF search_text ON workorders_article BEGIN "
    "INSERT INTO workorders_article_fts(workorders_article_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO workorders_article_fts(rowid, search_text) VALUES (new.id, new.search_text); END;",
]
SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS workorders_article_fts USING fts5("
    "search_text, content='workorders_article', content_rowid='id', tokenize='unicode61');",
    *SQLITE_TRIGGERS,
    # Articles that exist already (none on a fresh database) enter the index.
    "INSERT INTO workorders_article_fts(workorders_article_fts) VALUES ('rebuild');",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS workorders_article_fts_ai;",
    "DROP TRIGGER IF EXISTS workorders_article_fts_ad;",
    "DROP TRIGGER IF EXISTS workorders_article_fts_au;",
    "DROP TABLE IF EXISTS workorders_article_fts;",
]


def sqlite_fts_install(schema_editor):
    """Create (again) the FTS5 table and its triggers and rebuild the index; safe to repeat."""
    for sql in SQLITE_FORWARD:
        schema_editor.execute(sql)


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for sql in PG_FORWARD:
            schema_editor.execute(sql)
    elif vendor == "sqlite":
        sqlite_fts_install(schema_editor)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}.get(vendor, [])
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("workorders", "0003_roles")]

    operations = [migrations.RunPython(forwards, backwards)]
