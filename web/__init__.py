"""The HTTP edge: JSON API under /api/v1, server-rendered pages, health check."""
