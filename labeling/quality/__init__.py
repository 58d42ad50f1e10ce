"""Quality: agreement statistics, consensus, screening, labelers' own numbers."""
