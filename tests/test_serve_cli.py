"""`deepfx serve` as a command: refusals, the printed table, Ctrl-C cleanup (subprocesses)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from serve_helpers import home


def env(deepfx_home: Path) -> dict[str, str]:
    return {**os.environ, "DEEPFX_HOME": str(deepfx_home), "COLUMNS": "200", "HF_HUB_OFFLINE": "1"}


def deepfx(*args: str, home_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deepfx", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env(home_dir),
    )


def test_lan_host_without_token_is_refused(tmp_path: Path) -> None:
    r = deepfx("serve", "--host", "0.0.0.0", home_dir=tmp_path)
    assert r.returncode == 2
    assert "--token" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_no_models_installed_says_what_to_do(tmp_path: Path) -> None:
    r = deepfx("serve", "--port", "0", home_dir=tmp_path / "empty")
    assert r.returncode == 2 and "deepfx models install builtin/hpss" in r.stderr


def test_serve_prints_the_table_serves_and_cleans_up_on_ctrl_c() -> None:
    p = subprocess.Popen(
        [sys.executable, "-m", "deepfx", "serve", "--port", "0", "-m", "builtin/vad"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(home()),
    )
    try:
        assert p.stdout is not None
        out = []
        for line in p.stdout:
            out.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(out)
        origin = re.search(r"deepfx serve on (http://127\.0\.0\.1:\d+)", text)
        temp = re.search(r"Temp folder \(private, removed on exit\): (\S+)", text)
        assert origin and temp, text
        assert f"{origin.group(1)}/m/builtin/vad" in text
        assert Path(temp.group(1)).is_dir()
        r = None
        for _ in range(100):
            try:
                r = httpx.get(origin.group(1) + "/", timeout=5)
                break
            except httpx.ConnectError:
                subprocess.run(["sleep", "0.1"])
        assert r is not None and r.status_code == 200 and "builtin/vad" in r.text
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=60)
    assert p.returncode == 0, p.stderr.read() if p.stderr else ""
    assert not Path(temp.group(1)).exists()


def test_serve_help_does_not_import_torch_or_the_server() -> None:
    code = (
        "import sys\n"
        "from deepfx.cli.app import main\n"
        "try:\n"
        "    main(['serve', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'uvicorn', 'starlette') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "HEAVY []" in res.stdout and "--max-upload-mb" in res.stdout
