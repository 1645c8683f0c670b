"""Accent-blind search over the plan's bilingual texts.

A search text is split into words (runs of letters and digits, at most ten); every
word must be found in one of the searched fields, in either language, whatever its
accents and case: `energia` finds `energía`, `pequenas` finds `pequeñas`.

PostgreSQL does it with full-text search. English fields are read with the
`workplan_en` text search configuration and Spanish ones with `workplan_es` (both made
by migration 0009): accents are removed (`unaccent`), words are stemmed in their
field's language (`cadenas` finds `cadena`), and no word is dropped as a stop word:
every word the client typed still has to match, and a word that is a stop word in one
language only (Spanish `de`, English `the`) would otherwise never match the other
language's fields. Each word is also a prefix (`semicond` finds `semiconductores`).
Identifiers (acronyms, codes) are read with `simple`. A query word is read with each
configuration and may match in any of them.

Each searched table holds its rows' weighted tsvector in `search_document`, a stored
generated column with a GIN index (same migration; not a model field, so Django never
loads it). Titles, names and identifiers weigh A and descriptions B, so with ts_rank's
default weights one title match (1.0) outranks any number of description matches (at
most about 0.66): results are ranked by relevance. Storing the document is what keeps
the search fast on a large plan: computed at query time (an expression index), every
row a broad word matches, or a LIMIT scan walks, would be parsed and stemmed again.

SQLite, for development, has no full-text search in Django: there every word must
appear, as a substring, in the accent- and case-folded text of one of the fields
(`unaccent_lower()`, a function registered on each connection), and results that
match more words in a title come first.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from dataclasses import dataclass
from functools import reduce
from typing import Any

from django.contrib.postgres.search import Lexeme, SearchQuery, SearchRank, SearchVectorField
from django.db import connections
from django.db.models import Case, F, IntegerField, QuerySet, TextField, Value, When
from django.db.models.expressions import Combinable, Expression, Func
from django.db.models.functions import Concat

MAX_WORDS = 10
# Letters and digits; anything else (punctuation, `_`, `%`) separates words.
WORD = re.compile(r"[^\W_]+")

CONFIGS = {"en": "workplan_en", "es": "workplan_es"}
IDENTIFIER_CONFIG = "simple"
DOCUMENT_COLUMN = "search_document"


@dataclass(frozen=True)
class SearchFields:
    """What a model's search reads: `titles` (names, acronyms, codes: weight A) and
    `texts` (descriptions: weight B). A field named `*_en` or `*_es` is read in that
    language; any other as an identifier. On PostgreSQL the table's `search_document`
    column must hold exactly these (tests check it)."""

    titles: tuple[str, ...]
    texts: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return self.titles + self.texts

    @property
    def configs(self) -> list[str]:
        """The configurations a query word is read with: one per kind of field searched."""
        return sorted({config_for(field) for field in self.fields})


def config_for(field: str) -> str:
    return CONFIGS.get(field.rsplit("_", 1)[-1], IDENTIFIER_CONFIG)


def words(text: str) -> list[str]:
    """The words of a search text (compatibility-normalised, so a decomposed `í` or a
    full-width letter is still one word)."""
    return WORD.findall(unicodedata.normalize("NFKC", text))[:MAX_WORDS]


def fold(value: str | None) -> str | None:
    """Lower case without accents: `Pequeñas ENERGÍA` -> `pequenas energia`."""
    if value is None:
        return None
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver: gives each SQLite connection `unaccent_lower()`."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("unaccent_lower", 1, fold, deterministic=True)


class UnaccentLower(Func):
    function = "unaccent_lower"
    output_field = TextField()


class StoredDocument(Expression):
    """The `search_document` column of the queryset's table (PostgreSQL only)."""

    output_field = SearchVectorField()
    table_alias = ""

    def resolve_expression(self, query: Any = None, *args: Any, **kwargs: Any) -> StoredDocument:
        resolved = self.copy()
        resolved.table_alias = query.get_initial_alias()
        return resolved

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[()]]:
        table = compiler.quote_name(self.table_alias)
        return f"{table}.{connection.ops.quote_name(DOCUMENT_COLUMN)}", ()


def tsquery(found: list[str], fields: SearchFields) -> Combinable:
    """Every word, as a prefix, in any of the configurations the fields are read with."""
    per_word = [
        reduce(
            operator.or_,
            (SearchQuery(Lexeme(word, prefix=True), config=c) for c in fields.configs),
        )
        for word in found
    ]
    return reduce(operator.and_, per_word)


def search(queryset: QuerySet, text: str, fields: SearchFields, *, ranked: bool = True) -> QuerySet:
    """Rows of `queryset` in which every word of `text` is found; with `ranked`, the
    best matches first (ties in the model's default order)."""
    found = words(text)
    if not found:
        return queryset.none()
    if connections[queryset.db].vendor == "postgresql":
        return _search_postgresql(queryset, found, fields, ranked=ranked)
    return _search_fallback(queryset, found, fields, ranked=ranked)


def _by_relevance(queryset: QuerySet) -> QuerySet:
    return queryset.order_by("-search_rank", *queryset.model._meta.ordering)


def _search_postgresql(
    queryset: QuerySet, found: list[str], fields: SearchFields, *, ranked: bool
) -> QuerySet:
    query = tsquery(found, fields)
    queryset = queryset.alias(search_document=StoredDocument()).filter(search_document=query)
    if not ranked:
        return queryset
    return _by_relevance(queryset.alias(search_rank=SearchRank(StoredDocument(), query)))


def _folded(fields: tuple[str, ...]) -> Func:
    """All `fields` in one folded text; a line break between them, which no word spans."""
    if len(fields) == 1:
        return UnaccentLower(F(fields[0]))
    parts: list[Any] = []
    for field in fields:
        parts += [F(field), Value("\n")]
    return UnaccentLower(Concat(*parts[:-1], output_field=TextField()))


def _search_fallback(
    queryset: QuerySet, found: list[str], fields: SearchFields, *, ranked: bool
) -> QuerySet:
    folded = [fold(word) for word in found]
    queryset = queryset.alias(search_text=_folded(fields.fields))
    for word in folded:
        queryset = queryset.filter(search_text__contains=word)
    if not ranked:
        return queryset
    titles = queryset.alias(search_titles=_folded(fields.titles))
    in_title = [
        Case(When(search_titles__contains=word, then=1), default=0, output_field=IntegerField())
        for word in folded
    ]
    return _by_relevance(titles.alias(search_rank=reduce(operator.add, in_title)))
