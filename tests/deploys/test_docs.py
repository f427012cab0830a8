"""docs/deploy.md documents every inventory key exactly as the code declares it."""

from __future__ import annotations

from deploys import schema, schema_doc


def test_settings_reference_is_in_sync_with_the_code():
    text = schema_doc.DOC.read_text()
    expected = schema_doc.refresh(text, schema_doc.render())
    assert text == expected, "run: python -m deploys.schema_doc --write"


def test_every_key_has_documentation_text():
    undocumented = [name for name, key in schema.load_all().items() if not key.doc.strip()]
    assert undocumented == []


def test_test_only_keys_say_so():
    for name, key in schema.load_all().items():
        if name.startswith("test_only_"):
            assert key.test_only and "TEST-ONLY" in key.doc, name
