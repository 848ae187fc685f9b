"""The OpenAI-compatible vector-store API: a knowledge base is a vector store, its documents are the
store's files, their collection and metadata are the files' `attributes` (docs/interfaces.md).

Everything is carried out by the knowledge and retrieval services of the composition root, so an
OpenAI client's upload, search and attribute edit are metered, validated and refused exactly as the
REST API's; this package only translates shapes (attributes, filters, statuses) and keeps the files
uploaded with `POST /v1/files` until they are attached."""
