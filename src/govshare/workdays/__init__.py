"""Working days: the official Chinese holiday calendar, an admin-editable override table, and deadlines."""
