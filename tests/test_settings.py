"""Every environment variable deepfx reads is read by :mod:`deepfx.settings`, at call
time, and a bad value is a :class:`UsageError` naming the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import deepfx
from deepfx import settings
from deepfx.errors import UsageError

SRC = Path(deepfx.__file__).resolve().parent
DOCS = SRC.parents[1] / "docs" / "settings.md"


@pytest.mark.parametrize(
    ("var", "value", "read"),
    [
        ("DEEPFX_HUB_TIMEOUT", "nan", settings.hub_timeout_s),
        ("DEEPFX_HUB_TIMEOUT", "-1", settings.hub_timeout_s),
        ("DEEPFX_HUB_MIN_RATE", "0", settings.hub_min_rate),
        ("DEEPFX_HUB_TTL", "soon", settings.hub_ttl_s),
        ("DEEPFX_LOCK_TIMEOUT", "inf", settings.lock_timeout_s),
        ("DEEPFX_LOCAL_MAX_FILES", "1.5", settings.local_max_files),
        ("DEEPFX_LOCAL_MAX_BYTES", "-3", settings.local_max_bytes),
        ("DEEPFX_OFFLINE", "maybe", settings.offline),
        ("HF_ENDPOINT", "huggingface.co", settings.hub_endpoint),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, read: object
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(UsageError, match=var):
        read()  # type: ignore[operator]


def test_values_are_read_at_call_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEEPFX_HOME", str(tmp_path / "a"))
    assert settings.home() == tmp_path / "a"
    monkeypatch.setenv("DEEPFX_HOME", str(tmp_path / "b"))
    assert settings.home() == tmp_path / "b"
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    assert settings.hub_endpoint() == "http://127.0.0.1:9"
    monkeypatch.setenv("DEEPFX_OFFLINE", "yes")
    assert settings.offline()
    monkeypatch.setenv("DEEPFX_CURATED_LISTS", "a/b, c/d:x.json,")
    assert settings.curated_lists([]) == [("a/b", "models.json"), ("c/d", "x.json")]
    monkeypatch.delenv("DEEPFX_CURATED_LISTS")
    assert settings.curated_lists([("e/f", "m.json")]) == [("e/f", "m.json")]


def test_only_settings_reads_the_environment() -> None:
    readers = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if p.name != "settings.py" and re.search(r"os\.environ(?!\.copy)|getenv\(", p.read_text())
    )
    assert readers == []


def test_every_variable_read_is_documented() -> None:
    text = (SRC / "settings.py").read_text()
    read = set(re.findall(r"environ(?:\.get)?\(?\[?\"([A-Z_]+)\"", text))
    read |= set(re.findall(r'_number\(\s*"([A-Z_]+)"', text))
    assert {"DEEPFX_HOME", "DEEPFX_HUB_TTL", "HF_ENDPOINT"} <= read
    documented = DOCS.read_text()
    assert [v for v in sorted(read) if f"`{v}`" not in documented] == []
