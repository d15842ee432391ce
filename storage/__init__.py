"""PostgreSQL access: small asyncpg functions taking the connection explicitly; migrations."""
