"""Getting data out: pairwise comparisons and exports in their file formats."""
