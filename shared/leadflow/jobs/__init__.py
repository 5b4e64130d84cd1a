"""The three daily jobs (aggregate 01:00, plan 02:00, orchestrate 03:00 Europe/Amsterdam)."""
