"""Load the catalog directory (one YAML file per source) into validated, typed models.

Every problem is reported with the file and the field path it concerns, e.g.
`catalog/orders.yaml: tables[0].format: must be one of csv, tsv, json, jsonl, parquet`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from platform_assets.config.base import SourceConfig


class CatalogError(Exception):
    """The catalog cannot be loaded; `problems` lists every reason, one per line."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid catalog:\n" + "\n".join(f"  {p}" for p in self.problems))


@dataclass(frozen=True)
class Catalog:
    """The validated sources, in file-name order, and the file each came from."""

    directory: Path
    sources: tuple[SourceConfig, ...]
    files: Mapping[str, Path]

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"no source named {name!r} in {self.directory}")


def load_catalog(directory: Path, kinds: Mapping[str, type[SourceConfig]]) -> Catalog:
    """Parse and validate every `*.yaml`/`*.yml` file of `directory` as a source of a known kind."""
    if not directory.is_dir():
        raise CatalogError([f"{directory}: catalog directory does not exist"])
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not paths:
        raise CatalogError([f"{directory}: no *.yaml source files"])

    problems: list[str] = []
    sources: list[SourceConfig] = []
    files: dict[str, Path] = {}
    for path in paths:
        label = _label(path, directory)
        try:
            source = _load_source(path, kinds)
        except _FileProblems as error:
            problems.extend(f"{label}: {p}" for p in error.problems)
            continue
        if source.name in files:
            first = _label(files[source.name], directory)
            problems.append(f"{label}: name: source {source.name!r} is already declared in {first}")
            continue
        files[source.name] = path
        sources.append(source)
    if problems:
        raise CatalogError(problems)
    return Catalog(directory=directory, sources=tuple(sources), files=files)


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: the same documents, parsed in C."""


class _FileProblems(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems


def _label(path: Path, directory: Path) -> str:
    return f"{directory.name}/{path.name}"


def _load_source(path: Path, kinds: Mapping[str, type[SourceConfig]]) -> SourceConfig:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise _FileProblems([f"{where}invalid YAML: {problem}"]) from None
    if not isinstance(raw, dict):
        raise _FileProblems(["a source file must be a mapping with name, kind and tables"])
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        known = ", ".join(sorted(kinds))
        what = "is required" if kind is None else f"{kind!r} is not a known kind"
        raise _FileProblems([f"kind: {what}; must be one of {known}"])
    try:
        return kinds[kind].model_validate(raw)
    except ValidationError as error:
        raise _FileProblems(_describe_all(error.errors())) from None


_UNION_MEMBER = re.compile(r"^(int|float|str|bool|none|decimal|date|datetime|timedelta|\w+\[.*\])$")
"""How pydantic names the member of a union a value was tried as (`int`, `tuple[str, ...]`)."""
_TYPE_WORDS = {
    "int": "a number",
    "float": "a number",
    "decimal": "a number",
    "str": "text",
    "bool": "true or false",
    "tuple": "a list",
    "list": "a list",
    "dict": "a mapping",
}


def _describe_all(errors: list[ErrorDetails]) -> list[str]:
    """One line per field: a value that fits no member of a union (`min: abc` for a number)
    is one problem, not one per member pydantic tried."""
    lines: list[str] = []
    unions: dict[str, list[ErrorDetails]] = {}
    for error in errors:
        loc = error["loc"]
        if loc and isinstance(loc[-1], str) and _UNION_MEMBER.match(loc[-1]):
            unions.setdefault(_field_path(loc[:-1]), []).append(error)
        else:
            lines.append(describe_error(error))
    for path, members in unions.items():
        if len(members) == 1:
            lines.append(f"{path}: {_message(members[0])}")
            continue
        kinds = []
        for member in members:
            word = _TYPE_WORDS.get(str(member["loc"][-1]).split("[")[0], "")
            if word and word not in kinds:
                kinds.append(word)
        expected = " or ".join(kinds) or "another value"
        lines.append(f"{path}: must be {expected}, not {members[0]['input']!r}")
    return lines


def describe_error(error: ErrorDetails) -> str:
    """`field.path: message`; a rule across the whole file names its fields in its message."""
    path = _field_path(error["loc"])
    return f"{path}: {_message(error)}" if path else _message(error)


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith(("function-", "tagged-union")):
            path += f".{part}" if path else part
    return path


def _message(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of {expected}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind in ("tuple_type", "list_type"):
        return f"must be a list, not {error.get('input')!r}"
    message = error["msg"]
    return message[0].lower() + message[1:]
