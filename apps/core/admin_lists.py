"""Admin lists that stay as fast at ten million rows as at ten thousand (issue 15, `bench/admin_scale.py`).

What makes a changelist slow on a big table is work proportional to the table: counting it, `DISTINCT` over a
column for a filter's choices, a search no index serves (Django's `=field` search is `UPPER(field::text) =
UPPER(term)`), sorting by an unindexed column, a query per row. A big-table admin uses `LargeTableAdminMixin`:
estimated or capped counts, filter choices from small tables or index skip scans, exact (indexed) search, and
sorting only by what an index serves. Each filter and the default ordering need a matching index in the model.
"""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters, ShowFacets
from django.contrib.admin.views.main import ChangeList
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.db.models.constants import LOOKUP_SEP
from django.utils.functional import cached_property

COUNT_CAP = 10_000  # a filtered list counts this many rows at most; pages are offered this deep


def table_row_estimate(model) -> int:
    """PostgreSQL's own estimate of a table's rows (kept by ANALYZE and autovacuum); -1 if never analysed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    return row[0] if row else -1


def distinct_values(model, field_name: str) -> list:
    """The distinct values of a column, from its index (a skip scan: one index probe per value), where
    `SELECT DISTINCT` would read the whole table. The column must lead an index."""
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.get_field(field_name).column)
    with connection.cursor() as cursor:
        cursor.execute(f"""
            WITH RECURSIVE found AS (
                (SELECT {column} AS value FROM {table} WHERE {column} IS NOT NULL ORDER BY {column} LIMIT 1)
                UNION ALL
                SELECT (SELECT {column} FROM {table} WHERE {column} > found.value ORDER BY {column} LIMIT 1)
                FROM found WHERE found.value IS NOT NULL
            )
            SELECT value FROM found WHERE value IS NOT NULL
        """)  # noqa: S608 (quoted names of our own model, no user input)
        return [row[0] for row in cursor.fetchall()]


class LargeTablePaginator(Paginator):
    """Never counts a whole table: PostgreSQL's estimate when the list is unfiltered ("about 10,000,000"), a
    count that stops after COUNT_CAP + 1 rows when it is filtered ("more than 10,000"). Pages are offered as
    deep as COUNT_CAP rows: an OFFSET of millions costs what it skips; filters reach older rows."""

    template_name = "admin/large_table_pagination.html"
    count_is = "exact"  # or "estimated", "capped"

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if not rows.query.where:
            estimate = table_row_estimate(rows.model)
            if estimate > COUNT_CAP:
                self.count_is = "estimated"
                return estimate
        counted = rows.order_by()[: COUNT_CAP + 1].count()
        if counted > COUNT_CAP:
            self.count_is = "capped"
            return COUNT_CAP
        return counted

    @cached_property
    def num_pages(self) -> int:
        return min(super().num_pages, max(COUNT_CAP // self.per_page, 1))

    @property
    def count_text(self) -> str:
        if self.count_is == "estimated":  # two significant digits: "about 9,999,653" would claim a precision
            return f"about {round(self.count, 2 - len(str(self.count))):,}"
        return f"{'more than ' if self.count_is == 'capped' else ''}{self.count:,}"


class LargeTableChangeList(ChangeList):
    def get_ordering_field(self, field_name):
        # Django hides the other columns' sort links but still obeys `?o=` for them: a sort of millions of rows.
        sortable = self.model_admin.sortable_by
        return super().get_ordering_field(field_name) if sortable is None or field_name in sortable else None

    def get_results(self, request):
        super().get_results(request)
        # The header would print the capped count as "10000 results (Show all)": the pagination bar says it
        # honestly ("more than 10,000"), so the header leaves the count out.
        self.full_result_count = self.result_count


class LargeTableAdminMixin:
    """For a ModelAdmin of a table that grows without bound. Set `exact_search_fields` (each searched with `=`,
    through its index; a term that is not a valid value of a field skips that field) and, where people search
    words, `full_text_search` = (field, text search configuration) backed by a GIN index of the same
    expression. List `sortable_by` only columns an index orders."""

    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER  # facet counts are a count per filter choice over the whole table
    list_per_page = 50
    exact_search_fields: tuple[str, ...] = ()
    full_text_search: tuple[str, str] | None = None

    def get_changelist(self, request, **kwargs):
        return LargeTableChangeList

    def lookup_allowed(self, lookup, value, request=None):
        """Only the lookups of the list's own filters: Django would take any lookup on a column from the URL
        (`?error__icontains=...`), a scan of the whole table."""
        return lookup.split(LOOKUP_SEP, 1)[0] in self._filter_parameters() and super().lookup_allowed(
            lookup, value, request
        )

    def _filter_parameters(self) -> set[str]:
        names = set()
        for entry in self.list_filter:
            if isinstance(entry, str | tuple | list):
                names.add((entry if isinstance(entry, str) else entry[0]).split(LOOKUP_SEP, 1)[0])
            else:
                names.add(entry.parameter_name)  # a SimpleListFilter
        return names

    def get_search_fields(self, request):
        # Django's own search (LIKE/UPPER over each field) never runs here; the box shows while there is a search.
        return (*self.exact_search_fields, *(self.full_text_search[:1] if self.full_text_search else ()))

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q()
        for name in self.exact_search_fields:
            field = self.model._meta.get_field(name)
            target = field.target_field if field.is_relation else field
            try:
                value = target.to_python(term)
                target.run_validators(value)  # e.g. an id beyond bigint: not a value of this field
            except ValidationError:
                continue
            condition |= Q(**{name: value})
        if self.full_text_search:
            field, config = self.full_text_search
            words = SearchQuery(term, config=config, search_type="websearch")
            queryset = queryset.alias(search_document=SearchVector(field, config=config))
            condition |= Q(search_document=words)
        return (queryset.filter(condition) if condition else queryset.none()), False


def values_list_filter(field_name: str, title: str, values) -> type[admin.SimpleListFilter]:
    """A list filter on a plain column whose choices come from `values()` (a small table, or
    `distinct_values` over an index) instead of Django's `SELECT DISTINCT` over the whole table."""

    class ValuesFilter(admin.SimpleListFilter):
        parameter_name = field_name

        def lookups(self, request, model_admin):
            return [(value, str(value) if value != "" else "(none)") for value in values()]

        def queryset(self, request, queryset):
            if self.value() is None:
                return queryset
            field = queryset.model._meta.get_field(field_name)
            try:
                return queryset.filter(**{field_name: field.to_python(self.value())})
            except ValidationError as error:  # `?severity=abc`: the admin's "invalid filter" page, not a 500
                raise IncorrectLookupParameters(error) from error

    ValuesFilter.title = title
    ValuesFilter.__name__ = f"{field_name.title().replace('_', '')}ValuesFilter"
    return ValuesFilter
