"""Hostile-config corpus for prober (issue 17), written from the spec only."""
