"""Applying an upload's accepted rows: each becomes a registration and moves its number.

Two ways of writing, one per engine. `staged` (SQLite, whose one writer would hide even the
progress for the length of the file): the checked rows are staged batch by batch, so a
restarted worker resumes after the last committed batch, then applied in one transaction.
`streamed` (PostgreSQL): each batch is applied as soon as it is checked, in one transaction
for the whole file. `batches` works out what a batch's rows do to the registry."""
