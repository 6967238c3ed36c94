"""Chinese UI: server-rendered pages."""
