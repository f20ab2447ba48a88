"""Importing profile files into the store: `importer.import_file` and `import_batch`
(upsert by id, entity resolution, bad rows reported), the writes they use (`upsert`),
the resolver's look-ups in the store (`store_view`), and the review queue of ambiguous
matches (`review.list_reviews`, `accept_review`, `reject_review`).
"""
