"""The staff bot: one aiogram Router per feature."""
