"""The demo campaign: its written content, seeding and simulated labelers."""
