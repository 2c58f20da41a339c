"""The JSON schema shipped in the package is the one generated from ModelCard."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

from deepfx.card import SCHEMA_PATH, card_json_schema, card_schema_text


def test_shipped_schema_equals_generated() -> None:
    shipped = resources.files("deepfx").joinpath("schema", "card.schema.json").read_text("utf-8")
    assert shipped == card_schema_text(), "run `python -m deepfx.card` to regenerate it"
    assert json.loads(shipped) == card_json_schema()


def test_schema_keeps_original_rules_and_allows_extras() -> None:
    schema = card_json_schema()
    props = schema["properties"]
    assert props["short_description"]["maxLength"] == 60
    assert props["long_description"]["maxLength"] == 280
    assert props["tags"]["maxItems"] == 5
    assert props["sample_rate"]["maximum"] == 384000
    assert set(schema["required"]) >= {
        "short_description",
        "long_description",
        "domain_tags",
        "effect_type",
        "multichannel",
        "labels",
        "sample_rate",
    }
    assert schema.get("additionalProperties", True) is not False


def test_regenerate_check_command() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "deepfx.card", "--check"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert str(SCHEMA_PATH) in res.stdout
