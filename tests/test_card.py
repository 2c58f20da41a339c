import json

import pytest

from deepfx.card import ModelCard, card_json_schema, load_card
from deepfx.errors import CardError

GOOD = {
    "short_description": "Separates vocals",
    "long_description": "A test card.",
    "domain_tags": ["music"],
    "tags": ["separation"],
    "effect_type": "waveform-to-waveform",
    "multichannel": False,
    "labels": ["vocals", "accompaniment"],
    "sample_rate": 44100,
}


def test_strict_card_roundtrip(tmp_path):
    card = ModelCard.from_dict(GOOD)
    card.write(tmp_path / "metadata.json")
    assert load_card(tmp_path) == card


@pytest.mark.parametrize(
    ("patch", "expect"),
    [
        ({"short_description": "x" * 61}, "short_description: at most 60 characters (got 61)"),
        ({"long_description": "x" * 281}, "long_description: at most 280 characters"),
        ({"domain_tags": ["Music"]}, "domain_tags.0: must be one of"),
        ({"domain_tags": ["music", "speech", "other", "environmental", "music"]}, "domain_tags"),
        ({"tags": ["a", "a"]}, "tags: tags must be unique (repeated: a)"),
        ({"tags": list("abcdef")}, "tags: at most 5 items (got 6)"),
        ({"effect_type": "waveform-to-text"}, "effect_type: must be one of"),
        ({"sample_rate": 0}, "sample_rate:"),
        ({"sample_rate": 500000}, "sample_rate:"),
        ({"labels": []}, "labels: at least 1 item(s) required"),
    ],
)
def test_strict_card_names_field_and_rule(patch, expect):
    with pytest.raises(CardError) as info:
        ModelCard.from_dict({**GOOD, **patch})
    assert expect in str(info.value)


def test_missing_field_is_named():
    data = dict(GOOD)
    del data["sample_rate"]
    with pytest.raises(CardError, match="sample_rate: required field is missing"):
        ModelCard.from_dict(data)


def test_lenient_reads_legacy_card_with_warnings():
    legacy = {**GOOD, "domain_tags": ["Music"]}
    del legacy["tags"]
    with pytest.warns(UserWarning, match="normalised"):
        card = ModelCard.from_dict(legacy, strict=False)
    assert card.domain_tags == ["music"]
    assert card.tags == []
    with pytest.raises(CardError):
        ModelCard.from_dict(legacy, strict=True)


def test_unreadable_card(tmp_path):
    (tmp_path / "metadata.json").write_text("{not json")
    with pytest.raises(CardError, match="not valid JSON"):
        load_card(tmp_path)
    with pytest.raises(CardError, match="no metadata.json"):
        load_card(tmp_path / "nowhere")


def test_extra_fields_kept_and_schema_generated():
    card = ModelCard.from_dict({**GOOD, "license": "MIT", "something_new": 1})
    assert card.to_dict()["something_new"] == 1
    schema = card_json_schema()
    assert schema["properties"]["short_description"]["maxLength"] == 60
    json.dumps(schema)
