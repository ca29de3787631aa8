"""Error messages on one line, for the run summary, the report and failure tickets."""

from __future__ import annotations

import re

_READER_FILE = re.compile(r"^\s*file = (.+)$", re.MULTILINE)
_JSON_FORMAT_HINT = re.compile(
    r"\.?;?\s*Try setting format='auto' or format='newline_delimited'\.?"
)
JSON_FORMAT_ADVICE = (
    ". In the catalog, `format: json` reads one top-level array of records and `format: jsonl` "
    "one object per line: a file holding a single object is read as `jsonl` if the object is on "
    "one line, otherwise wrap it in [ ]"
)
"""DuckDB's advice names its own read_json options, which the catalog does not have."""


def one_line(message: str) -> str:
    """`message` on one line: its first paragraph, and the file DuckDB's CSV reader names
    further down. DuckDB follows an error with the query it was running and, for a CSV, its
    suggested fixes and the reader's settings; the whole message stays in
    `_tributary.loads.error`."""
    paragraph = message.strip().split("\n\n", 1)[0].split("\nPossible fixes:", 1)[0]
    line = "; ".join(part.strip() for part in paragraph.splitlines() if part.strip())
    line = _JSON_FORMAT_HINT.sub(JSON_FORMAT_ADVICE, line)
    found = _READER_FILE.search(message)
    if found and found.group(1).strip() not in line:
        line += f" (file {found.group(1).strip()})"
    return line
