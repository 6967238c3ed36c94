"""Governed data access: sources, the one gateway function, masking, exports."""
