"""One-stop sharing (一站式): requests, replies, disputes, grants, service changes (R07–R11)."""
