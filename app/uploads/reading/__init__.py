"""Reading an upload: files to frames.

A file is told CSV or XLSX by its content (`opening`), its text decoded (`csv_encodings`),
its header matched to canonical columns (`columns`) and its rows handed out in batches
(`table`), in bounded memory (`xlsx_bounds`); a file that cannot be read as a table is
refused whole (`refusals`) before any row is handed out.
"""
