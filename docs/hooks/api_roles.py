"""MkDocs hook: Sphinx cross-reference roles in docstrings, shown as plain code.

dnagpt's docstrings name other objects the Sphinx way (``:class:`TaskSpec```,
``:func:`~dnagpt.models.load_model```). mkdocstrings renders the backquoted part as code and
leaves the role in front of it; this hook drops the role, and a leading ``~`` keeps only the
last part of the dotted name, as Sphinx does.
"""

from __future__ import annotations

import re

ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj|const|py:\w+):<code>(~?)([^<]*)</code>")


def _plain(match: re.Match) -> str:
    tilde, name = match.groups()
    return f"<code>{name.rsplit('.', 1)[-1] if tilde else name}</code>"


def on_page_content(html, page, config, files):
    return ROLE.sub(_plain, html)
