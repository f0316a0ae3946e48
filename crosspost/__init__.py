"""crosspost: write a post once in Telegram, publish it on every official account."""

__version__ = "0.1.0"
