"""Celery workers: thin task shells around kb_service.ingestion.service."""
