"""The ground floor of JSON HTTP APIs: the client (auth, retries, rate limit, cache), paginators
(one class per strategy), records (flattening, exact numbers), the incremental cursor's
arithmetic. Plain arguments only: the REST kind (platform_assets/rest_kind/) translates the
catalog into them."""
