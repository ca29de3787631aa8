"""Reading JSON HTTP APIs: client (auth, retries, rate limit, cache), paginators, records."""

from resources.rest.errors import RestError
from resources.rest.reader import RestReader

__all__ = ["RestError", "RestReader"]
