"""An e-mail in the workspace (static/js/workspace/email.js) under Chromium: hostile HTML runs nothing —
no script, no handler, no javascript: link, no frame, no SVG, no dialog, not one CSP violation —
whether it comes through the server's sanitizer or is handed to the view raw; the subject shows,
quoted history is folded, and the e-mail channel shows neither typing nor read marks."""

from __future__ import annotations

import pytest

from conversations.management.commands._demo_email import EMAIL_CHANNEL_ADDRESS, install_demo_email
from tests.factories import PASSWORD
from tests.helpers import token_for

from .conftest import Partner, log_in, screenshot
from .test_csp_and_bidi import violations, watched_page
from .test_workspace import agent, go_online

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every trick sets window.pwned (or opens a dialog) if it runs.
HOSTILE = """<html><head><style>body { background: url("javascript:window.pwned='css'") }</style>
<script>window.pwned = 'script'; alert('script')</script><base href="https://evil.example/"></head><body>
<p onclick="window.pwned='click'" style="color: expression(window.pwned='expr')">Hello <b>support</b>, see below.</p>
<img src="x" onerror="window.pwned='img'; alert('img')">
<a id="js-link" href="javascript:window.pwned='link'">click me</a> <a href="https://example.com/docs">the docs</a>
<iframe src="javascript:parent.pwned='iframe'"></iframe>
<iframe srcdoc="<script>parent.pwned='srcdoc'</script>"></iframe>
<svg onload="window.pwned='svg'"><script>window.pwned='svg-script'</script>
<a href="javascript:alert(1)"><text>x</text></a></svg>
<math><mtext><table><mglyph><style><img src=x onerror="window.pwned='mxss'"></style></mglyph></table></mtext></math>
<object data="javascript:window.pwned='object'"></object><embed src="javascript:window.pwned='embed'">
<form action="javascript:window.pwned='form'"><button>Send</button></form>
<details open ontoggle="window.pwned='toggle'"><summary>x</summary></details>
<div class="gmail_quote">On Mon, 30 Nov 2026 Bob wrote:<blockquote>Older text that is quoted.</blockquote></div>
</body></html>"""


def _partner(server, connected_app):
    return Partner(server, token_for(connected_app), EMAIL_CHANNEL_ADDRESS)


def test_hostile_html_in_an_email_runs_no_script(browser, server, tenant, partner, connected_app):
    from playwright.sync_api import expect

    install_demo_email(partner, tenant)
    agent(tenant, "Alice", "alice")
    api = _partner(server, connected_app)
    page = watched_page(browser)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, server, "alice", PASSWORD)
    go_online(page)

    api.post(
        "/api/v1/interactions/",
        {
            "to": EMAIL_CHANNEL_ADDRESS,
            "from": "mallory@customer.example",
            "from_name": "Mallory",
            "thread": "<evil@customer.example>",
            "entries": [
                {
                    "id": "<evil@customer.example>",
                    "type": "message",
                    "subject": "Invoice attached",
                    "text": "Hello support, see below.",
                    "html": HOSTILE,
                    "attachments": [
                        {
                            "url": "https://files.example/a.pdf",
                            "content_type": "application/pdf",
                            "name": "invoice.pdf",
                            "size": 48213,
                        }
                    ],
                }
            ],
        },
    )
    page.get_by_role("button", name="Accept (A)").click()
    body = page.locator("#transcript .msg.inbound .email-html")
    expect(body).to_contain_text("Hello support, see below.")
    expect(page.locator("#transcript .msg-subject")).to_have_text("Invoice attached")
    expect(page.locator("#conv-sub")).to_contain_text("Invoice attached")
    expect(page.locator("#transcript .msg-attachments")).to_contain_text("invoice.pdf — 47 KB, application/pdf")
    # quoted history is folded until asked for
    quote = body.locator("details.email-quote")
    expect(quote).to_have_count(1)
    expect(quote.get_by_text("Older text that is quoted.")).to_be_hidden()
    # the e-mail channel has no typing: a typing entry shows nothing
    api.post(
        "/api/v1/interactions/",
        {
            "to": EMAIL_CHANNEL_ADDRESS,
            "from": "mallory@customer.example",
            "thread": "<evil@customer.example>",
            "entries": [{"id": "t1", "type": "typing_started"}],
        },
    )
    page.get_by_label("Reply", exact=True).fill("We will look at it.")
    page.get_by_label("Reply", exact=True).press("Enter")
    outbound = page.locator("#transcript .msg.outbound")
    expect(outbound).to_contain_text("We will look at it.")
    expect(outbound.locator(".mark")).to_contain_text("Sent")
    expect(page.locator("#typing")).to_be_hidden()

    body.get_by_text("click me").click()  # its javascript: href was removed: a dead link
    quote.locator("summary").click()
    expect(quote.get_by_text("Older text that is quoted.")).to_be_visible()
    screenshot(page, "email-hostile-html")
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None and dialogs == []
    assert violations(page) == []  # nothing even tried: no inline script, handler or style reached the page

    # the second wall alone: the view's own copy, given the raw hostile HTML (as if the server let it by)
    page.evaluate(
        """async (html) => {
            const { messageBody } = await import('/static/js/workspace/email.js');
            const node = messageBody({ html, subject: 'raw' });
            node.id = 'raw-copy';
            document.querySelector('#transcript').append(node);
        }""",
        HOSTILE,
    )
    raw = page.locator("#raw-copy")
    expect(raw).to_contain_text("Hello support")
    raw.get_by_text("click me").click()
    page.wait_for_timeout(500)  # give anything that was scheduled (onload, onerror) time to fire

    assert page.evaluate("window.pwned") is None
    assert dialogs == []
    # parsing the raw HTML in the inert document made the policy refuse its handlers and styles there
    # (reported, all blocked); none of it was copied into the page
    assert all("blocked" in v for v in violations(page))
    dangerous = (
        "script, style, iframe, object, embed, svg, math, img, form, base, [onclick], [onerror], [onload], [style]"
    )
    assert page.locator(f"#transcript :is({dangerous})").count() == 0
    hrefs = page.eval_on_selector_all("#transcript a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert hrefs and all(h.startswith(("https://", "http://", "mailto:")) for h in hrefs), hrefs
