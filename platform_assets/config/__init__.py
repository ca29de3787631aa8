"""Typed models of the catalog shared by the kinds: `base` (source and table), `checks`,
`incremental`, `http` (the `client:` of HTTP sources), `types`. Each kind keeps its own models in
its folder (`platform_assets/<name>_kind/config.py`)."""
