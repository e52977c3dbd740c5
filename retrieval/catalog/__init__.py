"""The SQLite catalog: items, parts, stored vectors and all of the SQL."""
