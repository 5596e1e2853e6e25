"""Checking an upload's rows: the rules per field group, the header, the whole file and the registry."""
