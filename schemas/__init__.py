"""Wire contracts of the HTTP API (pydantic models). Imported by kb_service, never the reverse."""
