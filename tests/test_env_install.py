"""The CPU-only install route of scripts/ensure_env.sh (ASD_TORCH_INDEX_URL), tested with a fake python.

PyTorch's CPU wheel index cannot be reached from the development machine, so these tests check
what can be checked offline: the variable reaches pip as the index of torch and torchaudio, with
the lock file as constraints; without it nothing changes; the lock pins the same versions, and
those pins accept the CPU wheels' local version label (``2.9.1+cpu``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from asdlib.paths import PROJECT_ROOT

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            pins[req.name.lower()] = str(req.specifier)
    return pins


def _run_ensure_env(tmp_path: Path, index: str | None) -> list[list[str]]:
    """Source ensure_env.sh with a fake venv whose python records its arguments; return the calls."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    calls = tmp_path / "calls.txt"
    shim = venv / "bin" / "python"
    shim.write_text(f'#!/usr/bin/env bash\nprintf "%q " "$@" >> {shlex.quote(str(calls))}\n'
                    f'echo >> {shlex.quote(str(calls))}\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "ASD_TORCH_INDEX_URL"}
    env["ASD_VENV"] = str(venv)
    if index is not None:
        env["ASD_TORCH_INDEX_URL"] = index
    script = PROJECT_ROOT / "scripts" / "ensure_env.sh"
    res = subprocess.run(["bash", "-c", f'source {shlex.quote(str(script))} && echo "PY=$PY"'],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"PY={venv}/bin/python" in res.stdout
    return [shlex.split(line) for line in calls.read_text().splitlines() if line.strip()]


def _pip_installs(calls):
    return [c for c in calls if c[:3] == ["-m", "pip", "install"]]


def test_torch_index_reaches_pip_with_the_lock(tmp_path):
    installs = _pip_installs(_run_ensure_env(tmp_path, CPU_INDEX))
    torch_calls = [c for c in installs if "--index-url" in c]
    assert len(torch_calls) == 1, installs
    call = torch_calls[0]
    assert call[call.index("--index-url") + 1] == CPU_INDEX
    assert call[-2:] == ["torch", "torchaudio"]
    assert call[call.index("-c") + 1] == str(PROJECT_ROOT / "constraints.txt")
    assert "--no-deps" in call   # only the two wheels come from the torch index
    # ... and before the requirements, so pip finds them installed and keeps them.
    req_calls = [i for i, c in enumerate(installs) if "-r" in c]
    assert req_calls and installs.index(call) < req_calls[0]
    assert all("--index-url" not in c for c in installs if c is not call)


def test_without_the_variable_pip_uses_its_default_index(tmp_path):
    installs = _pip_installs(_run_ensure_env(tmp_path, None))
    assert installs and all("--index-url" not in c for c in installs)
    assert any("-r" in c and "-c" in c for c in installs)


def test_the_variable_is_part_of_the_install_stamp(tmp_path):
    def stamp(index):
        folder = tmp_path / (index or "none").replace("/", "_").replace(":", "")
        folder.mkdir()
        _run_ensure_env(folder, index)
        return (folder / "venv" / ".asdlib-install-stamp").read_text()

    assert stamp(None) != stamp(CPU_INDEX)


def test_the_lock_pins_torch_and_torchaudio_together():
    lock, direct = _pins(PROJECT_ROOT / "constraints.txt"), _pins(PROJECT_ROOT / "requirements.txt")
    for name in ("torch", "torchaudio"):
        assert lock[name] == direct[name], name
        assert re.fullmatch(r"==\d+\.\d+\.\d+", lock[name]), lock[name]
    assert lock["torch"] == lock["torchaudio"]


@pytest.mark.parametrize("label", ["cpu", "cu128"])
def test_the_pins_accept_the_cpu_wheels_local_version(label):
    # PEP 440: a pin without a local label ignores the candidate's label, so torch==2.9.1 accepts
    # the CPU index's 2.9.1+cpu (the version pip then reports), and nothing else.
    for name, spec in _pins(PROJECT_ROOT / "constraints.txt").items():
        if name in ("torch", "torchaudio"):
            version = spec.removeprefix("==")
            req = Requirement(f"{name}{spec}")
            assert req.specifier.contains(f"{version}+{label}")
            assert not req.specifier.contains(f"{version}.1+{label}")
