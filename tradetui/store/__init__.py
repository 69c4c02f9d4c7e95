"""SQLite persistence: schema and migrations, the write-behind writer, queries and reports."""
