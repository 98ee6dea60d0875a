"""The import layers of README's Layout: services never reach for the socket layer or the
composition root, and the emulator shares no code with the server it checks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(package: str) -> dict[str, set[str]]:
    """Source file -> every module it imports (absolute, as written), at any depth."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offending(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path} imports {name}"
        for path, names in imported_modules(package).items()
        for name in sorted(names)
        if any(name == bad or name.startswith(bad + ".") for bad in forbidden)
    ]


@pytest.mark.parametrize(
    "package",
    ["csms/blocks", "csms/grid", "csms/db", "csms/analytics", "csms/cluster", "swap_orchestrator"],
)
def test_services_import_neither_the_gateway_nor_the_app(package: str) -> None:
    assert offending(package, ("csms.gateway", "csms.app")) == []


def test_the_api_does_not_import_the_app() -> None:
    assert offending("csms/api", ("csms.app",)) == []


def test_the_emulator_imports_nothing_of_the_server() -> None:
    assert offending("charge_point_emulator", ("csms", "swap_orchestrator")) == []
    # Nor does anything it imports, transitively.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pkgutil, sys, charge_point_emulator as e\n"
            "for m in pkgutil.iter_modules(e.__path__):\n"
            "    if m.name != '__main__':  # runs the emulator\n"
            "        __import__(f'charge_point_emulator.{m.name}')\n"
            "print(' '.join(n for n in sys.modules if n.split('.')[0] in "
            "('csms', 'swap_orchestrator')))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.split() == []


def test_emulator_and_csms_agree_on_the_swap_vendor_id() -> None:
    from charge_point_emulator.swap_world import SWAP_VENDOR_ID
    from swap_orchestrator.live import VENDOR_ID

    assert SWAP_VENDOR_ID == VENDOR_ID
