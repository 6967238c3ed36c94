"""Chinese full-text search over the published catalog (jieba tokens + tantivy BM25)."""
