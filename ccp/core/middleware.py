"""HTML responses never carry bidirectional override controls.

U+202A–202E (embeddings, overrides) and U+2066–2069 (isolates) in a contact's name, a package name
or a message can make text display in another order than it is ("invoice‮fdp.exe" shows as
"invoiceexe.pdf"). Our own pages never need them, so they are removed from every server-rendered
HTML page in one place — the admin, the workspace shell, the login page — whatever template or
widget printed the untrusted text. The workspace's scripts do the same for API data (static/js/text.js).
"""

from __future__ import annotations

import re

BIDI_CONTROLS_UTF8 = re.compile(rb"\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


class BidiControlsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if (
            not getattr(response, "streaming", False)
            and content_type.startswith("text/html")
            and "utf-8" in content_type.lower()
        ):
            cleaned = BIDI_CONTROLS_UTF8.sub(b"", response.content)
            if len(cleaned) != len(response.content):
                response.content = cleaned
                if response.has_header("Content-Length"):
                    response["Content-Length"] = str(len(cleaned))
        return response
