"""The one id parser (ccp/core/ids.py)."""

import uuid

import pytest

from ccp.core.ids import parse_id

ID = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")


@pytest.mark.parametrize("value", [ID, str(ID), str(ID).upper(), ID.hex, f"{{{ID}}}"])
def test_an_id_in_any_uuid_spelling_parses(value):
    assert parse_id(value) == ID


@pytest.mark.parametrize("value", [None, "", "42", "not-a-uuid", str(ID)[:-1], 42, ["x"], {"id": str(ID)}])
def test_anything_else_is_none(value):
    assert parse_id(value) is None
