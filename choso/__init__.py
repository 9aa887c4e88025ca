"""Choso platform core: settings, database, background jobs, i18n and the CLI.

The domain lives in the sibling packages ``market``, ``payments`` and ``matching``;
``web`` is the HTTP edge. This package holds only what all of them share.
"""
