"""What a fresh machine installs: the lock, the package data, the licences; and no network at run time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements" / "lock.txt"


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_lock_holds_no_torch_and_no_cuda_packages():
    # setup.sh installs the CPU torch wheel first; a lock pinning torch or nvidia-*/triton would pull the CUDA build
    offending = [name for name in _locked() if name == "torch" or name.startswith(("nvidia-", "triton"))]
    assert not offending, f"requirements/lock.txt pins {offending}: regenerate it with bash scripts/lock.sh"


def test_lock_pins_every_dependency_of_every_extra():
    project = _pyproject()["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    names = {_name(r) for r in requirements} - {"torch", "hf-audiogen"}
    locked = _locked()
    assert names <= set(locked), f"not in requirements/lock.txt: {sorted(names - set(locked))}"
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", v) for v in locked.values())


def test_every_dependency_has_an_upper_bound():
    project = _pyproject()["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += [r for r in extra if _name(r) != "hf-audiogen"]
    unbounded = [r for r in requirements if "<" not in r and "==" not in r]
    assert not unbounded, f"no upper bound (a major release could break us): {unbounded}"


def test_card_templates_and_licences_ship_with_the_package():
    import hf_audiogen
    from hf_audiogen.hub import TEMPLATE_DIR

    package_dir = Path(hf_audiogen.__file__).resolve().parent
    assert TEMPLATE_DIR.resolve().is_relative_to(package_dir)
    for family in ("codec", "audiogen", "genau", "autocap"):
        assert (TEMPLATE_DIR / f"{family}.md").is_file()
    assert "model_cards/*.md" in _pyproject()["tool"]["setuptools"]["package-data"]["hf_audiogen"]
    assert "Apache License" in (REPO / "LICENSE").read_text()
    assert set(_pyproject()["project"]["license-files"]) == {"LICENSE", "NOTICE"}
    for bundled in ("sfx-codec-small", "audiogen-sfx-demo"):
        assert (package_dir / "pretrained" / bundled / "ATTRIBUTION.md").is_file()


# Runs in a child process: every connection that is not to this machine raises and is recorded in NETLOG.
_GUARD = textwrap.dedent(
    """
    import os, socket, sys
    _connect = socket.socket.connect

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith(("127.", "::1", "/")) or host in ("localhost", "")):
            return _connect(self, address)
        with open(os.environ["NETLOG"], "a") as log:
            log.write(f"{host}\\n")
        raise OSError(f"outbound network blocked by the test: {address}")

    socket.socket.connect = guarded_connect
    _getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in (None, "localhost", "127.0.0.1", "::1"):
            with open(os.environ["NETLOG"], "a") as log:
                log.write(f"dns {host}\\n")
            raise socket.gaierror(f"DNS blocked by the test: {host}")
        return _getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = guarded_getaddrinfo
    """
)


def test_cli_generate_runs_with_outbound_network_blocked(tmp_path):
    # No HF_HUB_OFFLINE here: the bundled model and its text encoder must load without asking any host.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))}
    env["NETLOG"] = str(tmp_path / "net.log")
    out = tmp_path / "dog.wav"
    script = _GUARD + textwrap.dedent(
        f"""
        import hf_audiogen
        from hf_audiogen.cli import main
        sys.exit(main(["generate", "a dog barking", "--duration", "0.2", "--seed", "0", "--out", {str(out)!r}]))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.is_file()
    attempts = (tmp_path / "net.log").read_text() if (tmp_path / "net.log").exists() else ""
    assert attempts == "", f"contacted outside hosts: {attempts}"


def test_the_guard_does_block(tmp_path):
    # the control: the same guard stops a real attempt, so an empty log above means no attempt was made
    env = dict(os.environ, NETLOG=str(tmp_path / "net.log"))
    script = (
        _GUARD
        + "import socket\ntry:\n    socket.create_connection(('example.org', 80), timeout=2)\nexcept OSError:\n    pass\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    assert "example.org" in (tmp_path / "net.log").read_text()


@pytest.mark.parametrize("script", ["setup.sh", "test.sh", "demo.sh", "wheel_smoke.sh", "lock.sh", "train_sfx_v2.sh"])
def test_scripts_are_valid_bash(script):
    subprocess.run(["bash", "-n", str(REPO / "scripts" / script)], check=True)
