"""The web chat channel: a customer page at /chat and a `<script>` snippet for the company's site.

adapter.py (lifecycle), webhook.py (the visitor API and pages), convert.py (a visitor's post ->
Inbound), send.py (replies and history -> the visitor), api.py (visitor tokens, open pages).
"""

from .adapter import WebchatAdapter
from .settings import Settings, WebchatSettings

__all__ = ["Settings", "WebchatAdapter", "WebchatSettings"]
