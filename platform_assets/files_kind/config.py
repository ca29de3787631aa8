"""`kind: files`: tables read from local CSV/TSV, JSON, JSON lines or Parquet files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field, model_validator

from platform_assets.config.base import Identifier, SourceConfig, TableConfig
from platform_assets.config.types import ColumnName, DuckDBType

FileFormat = Literal["csv", "tsv", "json", "jsonl", "parquet"]
Compression = Literal["auto", "gzip", "none"]

_EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}


def format_of(path: str) -> FileFormat | None:
    """The format a file name implies (`orders.csv.gz` is csv), or None."""
    name = path.lower().removesuffix(".gz")
    return next((fmt for ext, fmt in _EXTENSIONS.items() if name.endswith(ext)), None)


class FileTable(TableConfig):
    """A table read from every file matching `path` (a glob, relative to the project root)."""

    path: str = Field(min_length=1)
    format: FileFormat | None = None
    compression: Compression = "auto"
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    quote: str = Field(default='"', min_length=1, max_length=1)
    header: bool = True
    null_strings: tuple[str, ...] = ()
    columns: dict[ColumnName, DuckDBType] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_format(self) -> FileTable:
        if self.format is None:
            inferred = format_of(self.path)
            if inferred is None:
                raise ValueError(
                    f"cannot tell the format of {self.path!r} from its name: "
                    "set format to one of csv, tsv, json, jsonl, parquet"
                )
            object.__setattr__(self, "format", inferred)
        if self.format not in ("csv", "tsv") and (self.delimiter or self.null_strings):
            raise ValueError("delimiter and null_strings apply to csv and tsv files only")
        return self

    def named_columns(self) -> Iterator[tuple[str, str]]:
        yield from super().named_columns()
        for name in self.columns:
            yield "columns", name

    @property
    def file_format(self) -> FileFormat:
        assert self.format is not None, "set by validation"
        return self.format

    @property
    def separator(self) -> str:
        return self.delimiter or ("\t" if self.format == "tsv" else ",")


class FilesSource(SourceConfig):
    kind: Literal["files"]
    tables: tuple[FileTable, ...]
    trigger: Literal["schedule", "on_arrival"] = "schedule"


__all__ = ["FileTable", "FilesSource", "Identifier", "format_of"]
