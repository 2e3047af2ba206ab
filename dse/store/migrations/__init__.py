"""Alembic migrations of the tinydse results store (run by ``dse.store.open_store``)."""
