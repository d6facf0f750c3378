"""qabot: question answering over Chinese news articles."""
