"""Every Russian string a person reads: bot replies, staff-chat reports, alerts, CLI messages.

Adapters never build such text; they raise errors with a Reason or return Notices, worded here.
"""

from __future__ import annotations

# Appended to a text cut to a platform's limit, when the full original has a public link.
READ_MORE = "Читать полностью: {url}"
ELLIPSIS = "…"
