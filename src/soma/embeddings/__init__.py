"""Text embeddings: one small interface used by memory and knowledge alike."""
