"""Planned publications: event announcements with reminders, recurring posts, website feeds.

Everything here enqueues ordinary publications through PublicationService; nothing here calls a
platform.
"""
