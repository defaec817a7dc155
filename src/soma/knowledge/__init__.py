"""Knowledge files: uploaded documents, parsed, chunked, embedded and retrieved into turns."""
