from resources.duckdb_client import remember_missing_pandas

remember_missing_pandas()
