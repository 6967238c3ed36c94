"""The security suite (issue 12; docs/security.md): each module tries one class of forbidden thing and
asserts that it is refused (and, where it reaches the gateway, recorded)."""
