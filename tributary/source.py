"""What a plugin author writes: a `DataSource` with `Options`, `fetch` and an optional `transform`.

The platform does everything else: it validates the catalog's `options:` against `Options` at
catalog load, stages each batch as it arrives, judges it with the table's checks, lands it with
its write disposition and moves the incremental cursor, all in one transaction per table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    ValidationInfo,
    field_validator,
)
from pydantic_core import core_schema

from resources.env import interpolate
from resources.errors import TributaryError
from resources.redaction import Redactor
from resources.rest.errors import RestResponseError

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from resources.rest.client import RestClient

    Batch: TypeAlias = pa.Table | pa.RecordBatch | pl.DataFrame | list[dict[str, Any]]
    """What `fetch` yields and `transform` takes and returns: a pyarrow Table or RecordBatch, a
    polars DataFrame, or a list of dicts (one per row, keys are column names)."""


def __getattr__(name: str) -> Any:
    """`Batch`, built on first use: reading a catalog imports this module, and importing polars
    and pyarrow for a type alias would slow every command that only reads the catalog."""
    if name == "Batch":
        import polars as pl
        import pyarrow as pa

        return pa.Table | pa.RecordBatch | pl.DataFrame | list[dict[str, Any]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class PluginError(TributaryError):
    """A plugin failed, or handed the platform something it cannot land. The message names the
    plugin and the phase (`fetch`, `transform`); the table's load fails and nothing of it lands."""


class Secret:
    """An option holding a secret, e.g. `api_key: ${VENDOR_KEY}`. The catalog keeps the
    template; `DataSource.secret(option)` resolves it at run time and has the platform scrub the
    value from every error message. `str()` and the UI show `***`."""

    def __init__(self, template: str) -> None:
        self.template = template

    def reveal(self) -> str:
        """The value, `${VAR}` references resolved from the environment; raises
        `MissingVariableError` (a ValueError) naming a variable that is not set."""
        return interpolate(self.template)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.template == self.template

    def __hash__(self) -> int:
        return hash(self.template)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        from_str = core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(min_length=1)
        )
        return core_schema.json_or_python_schema(
            json_schema=from_str,
            python_schema=core_schema.union_schema([core_schema.is_instance_schema(cls), from_str]),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda _s: "***"),
        )


class SourceOptions(BaseModel):
    """Base of a plugin's `Options` and `TableOptions`: unknown keys are errors, values are
    immutable, and `${VAR}` / `${VAR:-default}` in strings are resolved at catalog load (except
    in `Secret` fields, resolved only at run time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _resolve_variables(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _holds_secret(field.annotation):
            return value
        return interpolate(value) if isinstance(value, str) else value


def _holds_secret(annotation: Any) -> bool:
    return annotation is Secret or any(_holds_secret(arg) for arg in get_args(annotation))


Options = SourceOptions
"""The name plugin authors subclass: `class Options(tributary.Options): ...`."""


@dataclass(frozen=True)
class TableRequest:
    """The table `fetch` is asked for: its catalog `name`, its `options` (the plugin's
    `TableOptions`) and the column its incremental cursor is read from, if any."""

    name: str
    options: SourceOptions = field(default_factory=SourceOptions)
    cursor_field: str | None = None


@dataclass
class State:
    """A table's incremental state.

    - `cursor`: where to start, as a string: the cursor the last successful load reached minus
      the table's `incremental.lookback`, or `incremental.initial_value` on the first run;
      None means "everything".
    - `last_cursor`: the cursor the last successful load stored in `_tributary.state`, as is.
    - `cursor_field`: the column the platform reads the new cursor from (the largest value of
      the rows landed), or None when the table is not incremental.

    A plugin that knows better (a change token, an event id) calls `advance(value)`, or returns
    the value from its `fetch` generator; the platform then stores that instead. The cursor only
    moves when the whole table has landed.
    """

    cursor: str | None = None
    last_cursor: str | None = None
    cursor_field: str | None = None
    explicit: str | None = None

    def advance(self, cursor: str) -> None:
        """Store `cursor` (a string) as the table's position once this load commits."""
        self.explicit = str(cursor)


class DataSource:
    """A source written in Python. Subclass it, declare `Options`, write `fetch`:

        import tributary
        from tributary import DataSource, State, TableRequest

        class Countdown(DataSource):
            class Options(tributary.Options):
                start: int = 10

            def fetch(self, table: TableRequest, state: State):
                yield [{"n": n} for n in range(self.options.start, 0, -1)]

    and name it in a catalog file:

        name: countdown
        kind: python
        plugin: countdown            # an entry point of group tributary.sources, or module:Class
        options: {start: 3}
        tables:
          - name: numbers

    Attributes the platform sets: `options` (an instance of `Options`, validated at catalog
    load), `source` (the catalog source's name), `http` (the platform's HTTP client, when the
    source declares `client:`).
    """

    Options: ClassVar[type[SourceOptions]] = SourceOptions
    """The catalog's `options:` of the source are validated against this model."""
    TableOptions: ClassVar[type[SourceOptions]] = SourceOptions
    """Each table's `options:` are validated against this model."""

    def __init__(
        self,
        options: SourceOptions,
        source: str = "",
        http: RestClient | None = None,
        redact: Redactor | None = None,
    ) -> None:
        self.options = options
        self.source = source
        self._http = http
        self._redact = redact if redact is not None else Redactor()

    def fetch(self, table: TableRequest, state: State) -> Iterator[Batch]:
        """Yield the rows of `table` in batches (see `Batch`), from `state.cursor` on when the
        table is incremental. Batches are staged as they arrive, so yield many small ones
        (10k to 100k rows) rather than one large one. Raise any exception to fail the table:
        nothing of it lands and its cursor stays where it was."""
        raise NotImplementedError(f"{type(self).__name__} does not implement fetch()")

    def transform(self, batch: Batch, table: TableRequest) -> Batch:
        """Reshape one batch on its way to the warehouse (default: as it is)."""
        return batch

    @property
    def http(self) -> RestClient:
        """The platform's HTTP client for the source's `client:` block (base URL, auth, retries
        with backoff, `Retry-After`, rate limit, response cache, secrets redacted from errors).
        `self.http.request("GET", self.http.url("/path"), params={...})` returns a
        `requests.Response` or raises `RestError`; see also `get_json`."""
        if self._http is None:
            raise PluginError(
                f"source {self.source!r} declares no client: add a `client:` block "
                "(base_url, auth, rate_limit, retry) to its catalog file to use self.http"
            )
        return self._http

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET `path` (relative to `client.base_url`, or a full URL) and decode its JSON body;
        raises `RestError` when the request fails or the body is not JSON."""
        response = self.http.request("GET", self.http.url(path), params=params)
        try:
            return response.json()
        except ValueError:
            raise RestResponseError(
                f"GET {self._redact(response.url)}: the response is not JSON"
            ) from None

    def secret(self, value: Secret) -> str:
        """The value of a `Secret` option, resolved now; it is scrubbed from error messages."""
        revealed = value.reveal()
        self._redact.add(revealed)
        return revealed

    def redact(self, text: str) -> str:
        """`text` with every secret this source resolved replaced by `***`."""
        return self._redact(text)
