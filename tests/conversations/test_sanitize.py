"""The sanitizer of inbound HTML (conversations/sanitize.py, nh3): what survives and what never does."""

import pytest

from conversations.sanitize import html_sanitize


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href="java&#x09;script:alert(1)">x</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
        '<a href="vbscript:msgbox(1)">x</a>',
        '<div style="width: expression(alert(1))">x</div>',
        "<style>body{background:url(javascript:alert(1))}</style>",
        '<iframe src="https://evil.example/"></iframe>',
        '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
        '<svg onload="alert(1)"><script>alert(1)</script></svg>',
        '<math><mtext><table><mglyph><style><img src=x onerror="alert(1)"></style></mglyph></table></mtext></math>',
        '<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">',
        '<form action="https://evil.example/"><input name="password"><button>Go</button></form>',
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
        '<base href="https://evil.example/">',
        '<link rel="stylesheet" href="https://evil.example/x.css">',
        '<p onmouseover="alert(1)">x</p>',
        "<!--<script>alert(1)</script>-->",
        '<details open ontoggle="alert(1)">x</details>',
        '<img src="https://tracker.example/pixel.gif">',
    ],
)
def test_nothing_that_runs_or_loads_survives(hostile):
    clean = html_sanitize(f"<p>before</p>{hostile}<p>after</p>").lower()
    for bad in (
        "<script",
        "javascript:",
        "vbscript:",
        "data:",
        "onerror",
        "onload",
        "onmouseover",
        "ontoggle",
        "expression(",
        "<iframe",
        "<svg",
        "<math",
        "<object",
        "<embed",
        "<form",
        "<input",
        "<meta",
        "<base",
        "<link",
        "<style",
        "<img",
        "srcdoc",
        "style=",
    ):
        assert bad not in clean, (bad, clean)
    assert "<p>before</p>" in clean and "<p>after</p>" in clean


def test_formatting_links_tables_and_quote_markers_survive():
    html = (
        '<div class="gmail_quote evil-class" id="x">On Mon Bob wrote:<blockquote type="cite">old</blockquote></div>'
        '<p>Hi <b>there</b> <a href="https://example.com/a?b=1" target="_top" onclick="x()">docs</a>'
        ' <a href="mailto:ann@example.com">mail</a></p><table><tr><td colspan="2">cell</td></tr></table>'
    )
    clean = html_sanitize(html)
    assert '<div class="gmail_quote">' in clean  # only the quote marker classes are kept
    assert '<blockquote type="cite">old</blockquote>' in clean
    assert '<a href="https://example.com/a?b=1" rel="noopener noreferrer nofollow">docs</a>' in clean
    assert '<a href="mailto:ann@example.com" rel="noopener noreferrer nofollow">mail</a>' in clean
    assert '<td colspan="2">cell</td>' in clean


def test_empty_and_text_only():
    assert html_sanitize("") == "" and html_sanitize("   ") == ""
    assert html_sanitize("1 < 2 & 3 > 2") == "1 &lt; 2 &amp; 3 &gt; 2"
