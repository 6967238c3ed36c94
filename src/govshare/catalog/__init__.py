"""The unified catalog (一本账): entries, items, versions, review, import/export, one source."""
