"""The results store (SQLite) and its long-format CSV export."""
