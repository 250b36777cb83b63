"""The docs name every module: the README's layout and ARCHITECTURE.md's module table."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(str(path.relative_to(ROOT / "quart_app"))
                 for path in (ROOT / "quart_app").rglob("*.py"))


def section(path: Path, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same level."""
    text = path.read_text()
    level = heading.split(" ", 1)[0]
    start = text.index(heading)
    end = text.find(f"\n{level} ", start + len(heading))
    return text[start:] if end == -1 else text[start:end]


@pytest.mark.parametrize("module", MODULES)
def test_the_readme_layout_names_every_module(module: str) -> None:
    layout = section(ROOT / "README.md", "## Layout")
    assert f"`{Path(module).name}`" in layout


@pytest.mark.parametrize("module", MODULES)
def test_the_architecture_module_table_names_every_module(module: str) -> None:
    table = section(ROOT / "docs" / "ARCHITECTURE.md", "## Modules")
    assert f"`{module}`" in table or f"`{Path(module).name}`" in table
