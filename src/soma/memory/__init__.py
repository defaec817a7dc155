"""The agent's memory: facts kept as text with their embeddings, recalled into turns."""
