"""What every page form follows (issue 14): an action that cannot be undone — publish, revoke, withdraw,
disconnect, 共享目的已实现, retire, deactivate — asks for confirmation before it posts."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "govshare" / "web" / "templates"
IRREVERSIBLE = re.compile(r"/(publish|approve|revoke|withdraw|disconnect|purpose-achieved|retire|deactivate)\"")


def _forms():
    for template in sorted(TEMPLATES.glob("*.html")):
        for form in re.findall(r"<form\b[^>]*>", template.read_text(encoding="utf-8")):
            yield template.name, form


def test_every_irreversible_form_asks_for_confirmation():
    irreversible = [(name, form) for name, form in _forms() if IRREVERSIBLE.search(form)]
    assert len(irreversible) >= 8, irreversible  # the scan finds the forms (the pattern still matches them)
    unconfirmed = [(name, form) for name, form in irreversible if 'onsubmit="return confirm(' not in form]
    assert not unconfirmed, unconfirmed
