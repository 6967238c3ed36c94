"""Cells of files a spreadsheet may open (CSV and XLSX exports), safe from formula injection.

A spreadsheet program runs a cell whose text starts with `=`, `+`, `-` or `@` (or a tab, carriage return
or line feed before one) as a formula: an entry named `=HYPERLINK("http://…","点此")` in an export would
be a live link, and worse forms run commands (OWASP, "CSV Injection"). Every CSV or XLSX the platform
writes passes its text cells through `neutralize` (Python writers: the catalog export) or
`neutralize_sql` (DuckDB writers: the gateway's CSV export); the two agree (tests/security).

The rule is OWASP's: such a text cell gets a `'` in front, which spreadsheets show as text. It is applied
to TEXT only. A number written as a number (an item's position or length, a numeric column of a source)
is not text and stays a number, so a negative amount is still -5; a text cell "-5" is neutralized to
"'-5", because to a spreadsheet it is indistinguishable from the start of a formula.

The prefix is reversible, so the catalog import reads our own export back unchanged (`restore`): a text
that already starts with `'` followed by a dangerous character (`'=x`) gets one more `'` (`''=x`), and
`restore` removes exactly one `'` from a text of the form `'…'<dangerous>…`. Text from another tool that
follows the same OWASP rule is read back the same way."""

from __future__ import annotations

import re

# The characters a spreadsheet may read as the start of a formula (OWASP): = + - @, tab, CR, LF.
DANGEROUS = "=+-@\t\r\n"
_NEEDS_PREFIX = re.compile("'*[" + re.escape(DANGEROUS) + "]")
_PREFIXED = re.compile("'+[" + re.escape(DANGEROUS) + "]")


def neutralize(value: object) -> object:
    """The cell to write for `value`: text that a spreadsheet would run as a formula gets a leading `'`
    (see the module note); anything else, numbers and dates included, is returned as it is."""
    if isinstance(value, str) and _NEEDS_PREFIX.match(value):
        return "'" + value
    return value


def restore(value: object) -> object:
    """The inverse of `neutralize`, for importing a file we (or an OWASP-following tool) wrote."""
    if isinstance(value, str) and _PREFIXED.match(value):
        return value[1:]
    return value


def neutralize_row(values: list) -> list:
    return [neutralize(value) for value in values]


def neutralize_sql(expression: str) -> str:
    """The DuckDB expression of `neutralize` applied to `expression` (a column or a masking expression):
    vectorized, for exports DuckDB writes. A column that is not VARCHAR is not text: `typeof` is folded
    when the query is planned, so such a column is only cast (CSV holds text anyway) and never prefixed."""
    text = f"CAST({expression} AS VARCHAR)"
    first = ", ".join(f"chr({ord(character)})" for character in DANGEROUS)
    # the first character decides; only a text starting with ' (rare) pays for the pattern
    starts = (f"(left({text}, 1) IN ({first}) OR (starts_with({text}, '''') AND "
              f"regexp_matches({text}, '^''+[=+\\-@\\t\\r\\n]')))")
    return f"CASE WHEN typeof({expression}) = 'VARCHAR' AND {starts} THEN '''' || {text} ELSE {text} END"
