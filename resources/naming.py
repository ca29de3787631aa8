"""Column naming conventions: how the names a source spells become warehouse column names.

Applied once, where data enters (the file reader's scan, the REST reader's records); every
catalog field that names a column uses the result.

- `snake_case` (the default) follows dlt's `snake_case` convention
  (dlt-hub/dlt, `dlt/common/normalizers/naming/snake_case.py`): surrounding spaces are trimmed;
  `+` and `*` become `x`, `-` `_`, `@` `a` and `|` `l`; every other character outside ASCII
  letters, digits and `_` becomes `_`; camelCase words are split (`studyName` → `study_name`,
  `SignupDate` → `signup_date`, `HTTPCode` → `http_code`); letters are lowercased; a name
  starting with a digit gets a leading `_`; runs of `_` become one. As in dlt, `__` separates
  the parts of a flattened name (`user__login`) and each part is normalized on its own, so a
  normalized name normalizes to itself. One difference: trailing underscores are dropped where
  dlt turns them into `x`, so `Body Mass (g)` is `body_mass_g` (dlt: `body_mass_gx`); a name
  of punctuation alone (`%`) is `x`, as in dlt.
- `keep`: names as the source spells them, any non-empty text; SQL quotes them.

No small library implements these rules (`inflection.underscore` keeps punctuation such as
`(g)`; `python-slugify` does not split camelCase), and dlt is too large a dependency for one
function, so they are written out here and tested against dlt's examples.

DuckDB's names ignore case, so two names that differ only in case are one column: under either
convention, two source names that land as one column are a `ColumnNameClash`, never merged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:  # Arrow loads with the records it renames
    import pyarrow as pa


ColumnNaming = Literal["snake_case", "keep"]
CONVENTIONS: tuple[str, ...] = get_args(ColumnNaming)
DEFAULT_NAMING: ColumnNaming = "snake_case"

PATH_SEPARATOR = "__"

_REDUCE_ALPHABET = str.maketrans("+-*@|", "x_xal")
_NON_ALPHANUMERIC = re.compile(r"[^a-zA-Z0-9_]+")
_WORD_BREAK = re.compile(r"([^_])([A-Z][a-z]+)")
_CASE_BREAK = re.compile(r"([a-z0-9])([A-Z])")
_UNDERSCORES = re.compile(r"_+")
_SNAKE = re.compile(r"^[a-z_][a-z0-9_]*$")


class ColumnNameError(ValueError):
    """A source's column names cannot all become warehouse columns."""


class ColumnNameClash(ColumnNameError):
    """Two source names land as one column name."""


@lru_cache(maxsize=8192)  # the same keys come back on every page of an API
def snake_case(name: str) -> str:
    """`name` in lowercase snake case, e.g. `Body Mass (g)` → `body_mass_g`.

    Raises ColumnNameError when `name` is empty or only spaces.
    """
    stripped = name.strip()
    if not stripped:
        raise ColumnNameError(f"a column has no name ({name!r})")
    parts = [part for part in stripped.split(PATH_SEPARATOR) if part.strip()]
    return PATH_SEPARATOR.join(_snake_part(part) for part in parts)


def _snake_part(part: str) -> str:
    reduced = _NON_ALPHANUMERIC.sub("_", part.strip().translate(_REDUCE_ALPHABET))
    words = _CASE_BREAK.sub(r"\1_\2", _WORD_BREAK.sub(r"\1_\2", reduced)).lower()
    if words[:1].isdigit():
        words = "_" + words
    words = _UNDERSCORES.sub("_", words)
    trimmed = words.rstrip("_")
    return trimmed if trimmed else "x"


def normalize(name: str, naming: ColumnNaming) -> str:
    """The column `name` lands as under `naming`. Raises ColumnNameError for an empty name."""
    if naming == "keep":
        if not name.strip():
            raise ColumnNameError(f"a column has no name ({name!r})")
        return name
    return snake_case(name)


def is_snake_case(name: str) -> bool:
    """Whether `name` is already a `snake_case` column name (lowercase ASCII, digits, `_`)."""
    return bool(_SNAKE.match(name)) and snake_case(name) == name


def check_spelling(name: str, naming: ColumnNaming) -> None:
    """Raise ValueError unless a catalog field may name a column `name` under `naming`: under
    `snake_case`, the normalized name (the message gives it); under `keep`, any non-empty name."""
    if naming == "keep":
        normalize(name, naming)
        return
    if not is_snake_case(name):
        raise ValueError(
            f"{name!r} is not a column name under column_names: snake_case; "
            f"the column is named {snake_case(name)!r}"
            if name.strip()
            else f"{name!r} is not a column name"
        )


def normalized_names(names: Iterable[str], naming: ColumnNaming) -> list[str]:
    """`names` as they land under `naming`, in order.

    Raises ColumnNameClash naming both source names when two land as one column (whatever the
    case: DuckDB's names ignore it), and ColumnNameError for an empty name.
    """
    landed: list[str] = []
    seen: dict[str, str] = {}
    for position, name in enumerate(names, start=1):
        if not name.strip():
            raise ColumnNameError(f"column {position} has no name")
        new = normalize(name, naming)
        if (first := seen.get(new.lower())) is not None:
            raise ColumnNameClash(_clash(first, name, new, naming))
        seen[new.lower()] = name
        landed.append(new)
    return landed


def renames(names: Iterable[str], naming: ColumnNaming) -> dict[str, str]:
    """`{source name: column name}` for the names that `naming` changes (see normalized_names)."""
    listed = list(names)
    return {
        old: new
        for old, new in zip(listed, normalized_names(listed, naming), strict=True)
        if old != new
    }


def respelled_columns(stored: Iterable[str], incoming: Iterable[str]) -> list[tuple[str, str]]:
    """`(stored, incoming)` pairs of columns that are one source name spelled two ways: a
    column of the batch that the table lacks, and a stored column the batch lacks, with the
    same snake_case form (`SignupDate` stored by an earlier load, `signup_date` arriving under
    `column_names: snake_case`). Landing them would add a second column beside the first."""
    stored_names = {name.lower(): name for name in stored}
    incoming_names = {name.lower(): name for name in incoming}
    unmatched = {
        snake_case(name): name for key, name in stored_names.items() if key not in incoming_names
    }
    return [
        (unmatched[snake_case(name)], name)
        for key, name in incoming_names.items()
        if key not in stored_names and snake_case(name) in unmatched
    ]


def normalized_records(table: pa.Table, naming: ColumnNaming) -> tuple[pa.Table, dict[str, str]]:
    """Records (an Arrow table) with their keys named by `naming` at every level: columns, the
    fields of nested objects and of objects in lists. The data is not copied (a renamed struct
    has the same layout, so it is a view).

    Returns the table and `{column: source path}` for each renamed name, with nested ones as
    they will be flattened: `{"user_info__first_name": "userInfo.firstName"}`. Raises
    ColumnNameClash naming both keys (and the object holding them) when two land as one.
    """
    import pyarrow as pa

    names = table.column_names
    landed = _level(names, naming, "")
    source_names: dict[str, str] = {}
    columns = []
    for old, new, column in zip(names, landed, table.columns, strict=True):
        if old != new:
            source_names[new] = old
        kind = _renamed_type(column.type, naming, old, new, old, source_names)
        columns.append(column if kind == column.type else _view(column, kind))
    if landed == names and all(a is b for a, b in zip(columns, table.columns, strict=True)):
        return table, {}
    return pa.table(columns, names=landed), source_names


def _level(names: list[str], naming: ColumnNaming, where: str) -> list[str]:
    try:
        return normalized_names(names, naming)
    except ColumnNameClash as error:
        raise ColumnNameClash(f"{where}: {error}" if where else str(error)) from None


def _renamed_type(
    kind: pa.DataType,
    naming: ColumnNaming,
    source: str,
    landed: str,
    where: str,
    source_names: dict[str, str],
) -> pa.DataType:
    """`kind` with every struct field renamed; renamed fields of structs (not of objects in
    lists, which become child tables) are added to `source_names` by flattened name."""
    import pyarrow as pa

    if pa.types.is_struct(kind):
        fields = [kind.field(i) for i in range(kind.num_fields)]
        names = _level([f.name for f in fields], naming, f"in {where!r}")
        renamed = []
        for field, name in zip(fields, names, strict=True):
            path, flat = f"{source}.{field.name}", f"{landed}{PATH_SEPARATOR}{name}"
            if field.name != name and source:
                source_names[flat] = path
            inner = _renamed_type(field.type, naming, path, flat, path, source_names)
            renamed.append(field.with_name(name).with_type(inner))
        return pa.struct(renamed)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        value = kind.value_field
        # A list's objects land in a child table: their names are not the parent's columns.
        inner = _renamed_type(value.type, naming, "", "", f"{where}[]", {})
        maker = pa.list_ if pa.types.is_list(kind) else pa.large_list
        return maker(value.with_type(inner))
    return kind


def _view(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    import pyarrow as pa

    return pa.chunked_array([chunk.view(kind) for chunk in column.chunks], kind)


def _clash(first: str, second: str, landed: str, naming: ColumnNaming) -> str:
    if first == second:
        return f'the column "{first}" appears twice'
    if naming == "keep" or first.lower() == second.lower():
        return f'the columns "{first}" and "{second}" are one column to DuckDB, which ignores case'
    return (
        f'the columns "{first}" and "{second}" both land as "{landed}" '
        "(column_names: snake_case): rename one at the source, or set column_names: keep"
    )
