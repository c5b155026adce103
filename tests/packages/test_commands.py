"""package_export / package_import: a partner keeps its manifest in version control."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ccp.packages.models import CommunicationPackage
from tests.factories import make_manifest


def test_import_publish_export_round_trip(partner, tmp_path, capsys):
    source = tmp_path / "manifest.json"
    source.write_text(json.dumps(make_manifest()))
    call_command("package_import", str(source), "--partner=acme-comms", "--publish")
    assert "acme_whatsapp 1.0.0: published" in capsys.readouterr().out

    exported = tmp_path / "out.json"
    call_command("package_export", "acme_whatsapp@1.0.0", "-o", str(exported))
    manifest = json.loads(exported.read_text())
    assert manifest["channel_definition"]["developer_name"] == "acme_whatsapp"
    assert manifest["event_types"][0]["api_name"] == "AcmeOutbound__e"

    # importing the exported file again is a no-op; a changed published version is refused
    call_command("package_import", str(exported), "--partner=acme-comms")
    assert CommunicationPackage.objects.count() == 1
    manifest["description"] = "changed"
    exported.write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="bump the version"):
        call_command("package_import", str(exported), "--partner=acme-comms")


def test_import_refreshes_a_draft(partner, tmp_path):
    source = tmp_path / "m.json"
    source.write_text(json.dumps(make_manifest()))
    call_command("package_import", str(source), "--partner=acme-comms")
    source.write_text(json.dumps(make_manifest(description="second take")))
    call_command("package_import", str(source), "--partner=acme-comms")
    package = CommunicationPackage.objects.get()
    assert package.description == "second take" and package.status == "draft"


def test_import_reports_manifest_problems(partner, tmp_path):
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(make_manifest(version="nope")))
    with pytest.raises(CommandError, match=r"version: must be a version like 1\.0\.0"):
        call_command("package_import", str(source), "--partner=acme-comms")
    source.write_text("{not json")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("package_import", str(source), "--partner=acme-comms")
    assert not CommunicationPackage.objects.exists()
