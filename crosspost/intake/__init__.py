"""Inbound listeners: they store raw updates in the inbox before confirming them.

Listeners are not adapters (adapters are outbound only). One module per platform.
"""
