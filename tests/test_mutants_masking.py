"""Masking rules (R17): what mutation testing of `govshare.gateway.masking` found untested (docs/testing.md).

Each test names the mutants it kills (`mutmut show NAME` prints one). A refused rule shows the reviewer what
was given (an empty rule as empty, not as some placeholder), and the vectorized masking of an export works on
a source column whose name holds a double quote, giving what the row-by-row masking gives."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa
import pytest

from govshare.errors import ValidationFailed
from govshare.gateway import masking

SALT = "3f2a" * 16
ALLOWED = "（可选：none、keep:前位数:后位数、hash、year、null）"


@pytest.mark.parametrize(("text", "shown"), [("", "''"), ("   ", "''"), (None, "''"), (" shuffle ", "'shuffle'")])
def test_r17_a_refused_rule_shows_what_was_given(text, shown):
    """Kills x_parse_rule__mutmut_7 (an empty or missing rule shown as 'XXXX')."""
    with pytest.raises(ValidationFailed) as refused:
        masking.parse_rule(text, field="masking.xm")
    assert (refused.value.field, refused.value.message) == ("masking.xm", f"脱敏规则无效：{shown}{ALLOWED}")


@pytest.mark.parametrize("rule", ["none", "keep:1:0", "hash", "year", "null"])
def test_r17_an_export_masks_a_column_whose_name_holds_a_double_quote(rule):
    """A source's column may be named anything, quotes included (a spreadsheet header such as 姓名"全称"). Kills
    x_quote_identifier__mutmut_8 (the quote left unescaped: the export's SQL breaks) and 9 (escaped into another
    name: the column is not found)."""
    name = '姓名"全称"'
    values = ["王小明", None, "欧阳", "1990-01-01"]
    batch = pa.table({name: pa.array(values, type=pa.string()), "n": pa.array(range(len(values)))})
    connection = duckdb.connect()
    connection.register("batch", batch)
    parsed = masking.parse_rule(rule)
    expression = masking.sql_expression(parsed, masking.quote_identifier(name), SALT)
    masked = [row[0] for row in connection.execute(f"SELECT {expression} FROM batch ORDER BY n").fetchall()]
    assert masked == [masking.python_masker(parsed, SALT)(value) for value in values]


@pytest.mark.parametrize("given", [5, 1.5, ["hash"], {"rule": "hash"}])
def test_r17_a_rule_that_is_not_text_is_refused_naming_the_masking_field(given):
    """A masking map read from JSON may hold a number or a list where a rule belongs: it is refused like an empty
    rule, under the field `masking` when the caller names none, never a crash. Kills x_parse_rule__mutmut_1 and 2
    (another default field), 5 and 9 (`.strip()` called on a non-text) and 10 (the value shown as 'XXXX')."""
    with pytest.raises(ValidationFailed) as refused:
        masking.parse_rule(given)
    assert (refused.value.field, refused.value.message) == ("masking", f"脱敏规则无效：''{ALLOWED}")


def test_r17_an_unmasked_column_keeps_its_type_in_an_export():
    """Rule `none` serves the column as stored: a number or a date stays a number or a date in a Parquet
    export (only masked columns become text). Kills x_served_sql__mutmut_9/10 (`none` wrapped in the
    placeholder CASE, which turns every column it serves into text)."""
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t AS SELECT 42::INTEGER AS n, DATE '2024-01-02' AS d")
    none = masking.parse_rule("none")
    relation = connection.sql(f"SELECT {masking.served_sql(none, 'n', 's')} AS n, "
                              f"{masking.served_sql(none, 'd', 's')} AS d FROM t")
    assert [str(t) for t in relation.types] == ["INTEGER", "DATE"]
    assert relation.fetchall() == [(42, date(2024, 1, 2))]
