"""Labeler work: which task a labeler gets next (the hot path), rankings and demonstrations."""
