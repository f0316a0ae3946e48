"""Subscriber statistics: daily snapshots, imported history, reach and the yearly report."""
