"""Reports for company admins and operator staff: status counts and numbers at risk."""
