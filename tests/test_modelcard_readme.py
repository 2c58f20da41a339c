"""README.md front matter made from the card (shared by `deepfx export` and `deepfx publish`)."""

from __future__ import annotations

from pathlib import Path

from deepfx.card import ModelCard
from deepfx.modelcard_readme import (
    readme_front_matter,
    render_readme,
    split_front_matter,
    update_readme,
    write_readme,
)

CARD = ModelCard(
    name="sep",
    short_description="Separates vocals.",
    long_description="Longer words about vocals.",
    domain_tags=["music"],
    tags=["vocals", "audacity"],
    effect_type="waveform-to-waveform",
    multichannel=True,
    labels=["vocals", "accompaniment"],
    sample_rate=44100,
    license="Apache-2.0",
    citation="@article{x}",
)


def test_front_matter_from_card() -> None:
    meta = readme_front_matter(CARD)
    assert meta["tags"] == ["audacity", "deepfx", "waveform-to-waveform", "music", "vocals"]
    assert meta["license"] == "apache-2.0"
    assert meta["library_name"] == "deepfx"
    assert meta["pipeline_tag"] == "audio-to-audio"


def test_render_round_trips() -> None:
    text = render_readme(CARD, files=["model.pt"])
    front, body = split_front_matter(text)
    assert front == readme_front_matter(CARD)
    assert body.startswith("# sep\n")
    assert "`model.pt` (torchscript)" in body and "@article{x}" in body


def test_update_keeps_author_text_and_keys() -> None:
    existing = "---\nlicense: mit\ndatasets:\n- musdb\ntags:\n- karaoke\n---\n\n# My words\n"
    out = update_readme(existing, CARD)
    front, body = split_front_matter(out)
    assert body == "# My words\n"
    assert front["datasets"] == ["musdb"]
    assert front["license"] == "apache-2.0"  # the card wins on keys deepfx manages
    assert front["tags"][0] == "audacity" and "karaoke" in front["tags"]
    # no front matter at all: one is added, the text kept
    front2, body2 = split_front_matter(update_readme("Just text.\n", CARD))
    assert front2["tags"][0] == "audacity" and body2 == "Just text.\n"


def test_write_readme_creates_then_updates(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    write_readme(path, CARD, audacity=True)
    assert split_front_matter(path.read_text())[0]["tags"][0] == "audacity"
    path.write_text("---\ntags: [mine]\n---\nhello\n")
    write_readme(path, CARD, audacity=True)
    front, body = split_front_matter(path.read_text())
    assert "mine" in front["tags"] and body == "hello\n"


def test_audacity_tag_only_where_the_original_host_runs_the_folder(tmp_path: Path) -> None:
    """`deepfx` always; `audacity` never on a folder torch 1.9 cannot run (here: no
    model.pt at all), even when an old README or the card carried it."""
    path = tmp_path / "README.md"
    path.write_text("---\ntags: [audacity, mine]\n---\nhello\n")
    write_readme(path, CARD)  # decides from the folder: no model.pt -> not for the old host
    front, _ = split_front_matter(path.read_text())
    assert front["tags"][0] == "deepfx" and "audacity" not in front["tags"]
    assert "mine" in front["tags"]
    text = render_readme(CARD, audacity=False)
    assert "audacity" not in split_front_matter(text)[0]["tags"]
    assert "needs deepfx" in text
