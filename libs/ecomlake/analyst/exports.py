"""Result files meant to be opened in a spreadsheet: every CSV the package writes goes through :func:`write_csv`.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and Excel strips a leading tab
or carriage return, then does the same), so a text value from the data, such as a brand or a category code a site
sent, could run ``=HYPERLINK(...)`` or worse on an analyst's machine (OWASP: CSV injection). Such a text cell is
written with a single quote in front (``'=HYPERLINK(...)``), which a spreadsheet shows as text. Only text is
escaped: a numeric column's ``-1`` stays the number -1, and dates, booleans and empty cells are left as they are.
The column names, the header row's cells, are escaped the same way.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list of what makes a spreadsheet cell a formula
ESCAPE = "'"


def escape_formula(value: object) -> object:
    """A text value that a spreadsheet would run as a formula, prefixed with a single quote; anything else as it is.

    Example:
        >>> escape_formula("=1+1"), escape_formula("-x"), escape_formula("ok"), escape_formula(-1)
        ("'=1+1", "'-x", 'ok', -1)
    """
    return ESCAPE + value if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) else value


def formula_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot run as spreadsheet formulas (:func:`escape_formula`).

    Numeric, date and boolean columns are not text and are kept as they are; in a column of Python objects only
    the ``str`` values change (a Decimal or a date in it stays a value).
    """
    safe = frame.copy()
    for i, dtype in enumerate(safe.dtypes):
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            safe.isetitem(i, safe.iloc[:, i].map(escape_formula).tolist())  # by position: a result may repeat a column name
    safe.columns = [escape_formula(name) for name in safe.columns]
    return safe


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as a CSV file with a header and no index, safe to open in a spreadsheet.

    Lines end in CRLF, as RFC 4180 has them: the CSV writer then quotes a value holding a lone carriage return,
    which under LF line ends it writes bare, and a reader would take for the end of the row.
    """
    formula_safe(frame).to_csv(path, index=False, lineterminator="\r\n")
