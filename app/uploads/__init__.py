"""Company admins' lists of employees and devices, uploaded, checked and applied.

The stages, in the order an upload meets them: `intake` (receive the file, list uploads, the
error reports), `worker` (lease, run and resume an upload's attempts), `pipeline` (one pass
through the file), `reading/` (files to frames), `checking/` (row rules per field group, the
header, the whole file, the registry), `applying/` (one module per way of writing).
"""
