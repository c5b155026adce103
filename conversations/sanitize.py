"""Inbound HTML (an e-mail's body) cut down to a safe subset before it is stored (docs/email.md).

nh3 (the Ammonia sanitizer) keeps text formatting, lists, tables, quotes and links, and drops
everything that could run or load anything: scripts, styles, event handlers, iframes, objects,
forms, SVG and MathML, images (remote images are trackers; a partner sends files as attachments),
and any URL that is not http(s) or mailto. The workspace renders the result through its own DOM
allowlist too (static/js/workspace/email.js), under a strict CSP: three walls, not one.
"""

from __future__ import annotations

import nh3

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "ins",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
# `class` only for the quote markers mail clients write (gmail_quote, moz-cite-prefix…), which the
# workspace uses to fold quoted history; nothing else of an e-mail's styling survives.
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "blockquote": {"class", "type"},
    "div": {"class"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "abbr": {"title"},
}
QUOTE_CLASSES = {"gmail_quote", "gmail_attr", "moz-cite-prefix", "yahoo_quoted", "OutlookMessageHeader"}
# Whose content goes too (not only the tag): what is code or styling, never text to read.
CLEAN_CONTENT_TAGS = {"script", "style", "title", "head", "iframe", "object", "embed", "noscript", "svg", "math"}


def _attribute_filter(tag: str, name: str, value: str) -> str | None:
    if name == "class":
        kept = [c for c in value.split() if c in QUOTE_CLASSES]
        return " ".join(kept) or None
    return value


def html_sanitize(raw: str) -> str:
    """The safe subset of `raw` (an HTML document or fragment); links open without a referrer."""
    if not raw or not raw.strip():
        return ""
    return nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        clean_content_tags=CLEAN_CONTENT_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()
