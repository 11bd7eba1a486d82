"""The folder rules of ganforge.layout hold on the repository, and the check can fail."""

import shutil
from pathlib import Path

import pytest

from ganforge import layout

ROOT = Path(__file__).resolve().parents[1]


def test_repository_breaks_no_rule():
    assert layout.check(ROOT) == []


@pytest.fixture
def tree(tmp_path):
    """A copy of the package's sources to plant imports in."""
    for folder in layout.FOLDERS:
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.npz"))
    return tmp_path


def _plant(path, line):
    text = path.read_text()
    path.write_text(text + "\n" + line + "\n")


def test_rtl_importing_the_testbench_is_refused(tree):
    _plant(tree / "rtl" / "core" / "lane.py", "from ganforge.testbench.runner import tb_args")
    problems = layout.check(tree)
    assert problems[0].startswith("rtl/core/lane.py:")
    assert "rtl.core must not import testbench" in problems[0]
    # ... and the testbench imports the core, so the two blocks now form a circle.
    assert problems[1:] and all("import circle between blocks" in p for p in problems[1:])


def test_firmware_importing_the_testbench_is_refused(tree):
    _plant(tree / "firmware" / "compiler" / "bits.py",
           "def f():\n    from ganforge.testbench import streams  # a lazy import counts too")
    problems = layout.check(tree)
    assert any("firmware.compiler must not import testbench" in p for p in problems), problems


def test_golden_importing_rtl_is_refused(tree):
    _plant(tree / "golden" / "fixed.py", "from ..rtl.core import descriptor")
    problems = layout.check(tree)
    assert any(p.startswith("golden/fixed.py:") and "golden must not import rtl.core" in p
               for p in problems), problems


def test_the_old_core_eors_circle_is_found(tree):
    # The circle this layout removed: the core's lane imported the EORS unit, which is a core.
    _plant(tree / "rtl" / "core" / "lane.py", "def f():\n    from ..eors import unit")
    problems = layout.check(tree)
    assert any("rtl.core must not import rtl.eors" in p for p in problems), problems
    assert any("import circle between blocks: rtl.core -> rtl.eors -> rtl.core" in p
               for p in problems), problems


def test_a_circle_of_permitted_edges_is_found(tree, monkeypatch):
    allowed = {k: set(v) for k, v in layout.ALLOWED.items()}
    allowed["rtl.core"].add("rtl.bus")          # each edge permitted, the circle is not
    monkeypatch.setattr(layout, "ALLOWED", allowed)
    _plant(tree / "rtl" / "core" / "descriptor.py", "from ganforge.rtl.bus import axi")
    problems = layout.check(tree)
    assert len(problems) == 1 and "import circle between blocks" in problems[0], problems


def test_architecture_doc_shows_the_rules():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert layout.rules_table() in doc, "docs/architecture.md: paste ganforge.layout.rules_table()"


def test_every_package_folder_is_installed():
    """A subpackage missing from pyproject.toml works in the editable tree and is lost from
    a normal install: every folder with an ``__init__.py`` must be listed."""
    import tomllib
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, package in layout.FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]))
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set(), "these listed packages have no folder"


def test_every_component_documents_its_parameters_and_ports():
    """Every ``wiring.Component`` of the RTL has a class docstring in the Amaranth standard
    library's style: its parameters and its members (ports)."""
    import importlib
    import inspect
    import pkgutil

    from amaranth.lib import wiring

    import ganforge.rtl
    undocumented, found = [], []
    for info in pkgutil.walk_packages(ganforge.rtl.__path__, "ganforge.rtl."):
        module = importlib.import_module(info.name)
        for name, cls in vars(module).items():
            if (inspect.isclass(cls) and issubclass(cls, wiring.Component)
                    and cls.__module__ == module.__name__):
                found.append(name)
                doc = cls.__doc__ or ""
                if "Parameters\n" not in doc or "Members\n" not in doc:
                    undocumented.append(f"{module.__name__}.{name}")
    assert len(found) >= 14, found          # the walk reaches every block
    assert undocumented == []
