"""Database layer tests (SQLite always, PostgreSQL when EXSTREAMTV_TEST_POSTGRES_URL is set)."""
