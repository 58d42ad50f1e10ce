"""Getting data in: imported files, prompt de-duplication and splits, responses, ranking tasks."""
