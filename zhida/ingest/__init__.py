"""Importing profile files into the store: `importer.import_file` (upsert by id, entity
resolution, bad rows reported) and the review queue of ambiguous matches
(`importer.review_items`, `accept`, `reject`).
"""
