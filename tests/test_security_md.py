"""SECURITY.md's requirement tables stay true: every test they name exists, every row says
how it is proven or why not, and every level 1 and 2 requirement of a covered section is there.
"""

import ast
import re
from functools import cache
from pathlib import Path
from typing import Final, NamedTuple

ROOT: Final = Path(__file__).resolve().parent.parent
SECURITY_MD: Final = ROOT / "SECURITY.md"
TEST_REFERENCE: Final = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
REQUIREMENT_ID: Final = re.compile(r"\b(\d+\.\d+)\.(\d+)\b")
REASON: Final = re.compile(r"\b(Does not apply|Not met)\b[^:|]*:\s*\S")
# Fewer references than this means the tables were emptied, not edited.
MIN_REFERENCES: Final = 150
# OWASP ASVS 5.0.0, each section this file covers: the level of its requirements in order
# ("113" for 3.2: 3.2.1 and 3.2.2 are level 1, 3.2.3 is level 3).
ASVS_LEVELS: Final = {
    "2.4": "23", "3.2": "113", "3.3": "12223", "3.4": "11222233", "3.5": "11122333",
    "3.7": "22333", "4.2": "23333", "6.1": "122", "6.2": "111111112222", "6.3": "11223333",
    "6.4": "112233", "7.1": "222", "7.2": "1111", "7.3": "22", "7.4": "11222", "7.5": "223",
    "7.6": "22", "8.2": "1123", "11.4": "1222", "11.5": "23", "13.3": "2233", "14.3": "122",
    "16.1": "2", "16.2": "22222", "16.3": "2222", "16.4": "222", "16.5": "2223",
}


class Row(NamedTuple):
    """One requirement row: the ids in its first cell, its level, and its last cell."""

    ids: tuple[str, ...]
    level: str
    proof: str


def requirement_rows(text: str) -> list[Row]:
    """Every table row whose first cell names ASVS requirements."""
    rows = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 5:
            continue
        ids = tuple(f"{section}.{number}" for section, number in REQUIREMENT_ID.findall(cells[0]))
        if ids:
            rows.append(Row(ids, cells[1], cells[4]))
    return rows


@cache
def collected_names(path: Path) -> frozenset[str]:
    """The test functions pytest would collect by name: at module level or in a class."""
    tree = ast.parse(path.read_text(), filename=str(path))
    scopes: list[ast.AST] = [tree, *(n for n in tree.body if isinstance(n, ast.ClassDef))]
    return frozenset(
        node.name for scope in scopes for node in ast.iter_child_nodes(scope)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    )


def missing_tests(text: str) -> list[str]:
    """``path::name`` of each reference whose file or test function does not exist."""
    missing = []
    for path, name in TEST_REFERENCE.findall(text):
        file = ROOT / path
        if not file.is_file() or name not in collected_names(file):
            missing.append(f"{path}::{name}")
    return missing


def unproven(rows: list[Row]) -> list[str]:
    """Rows that name no test and give no reason why none proves them."""
    return [", ".join(row.ids) for row in rows
            if not TEST_REFERENCE.search(row.proof) and not REASON.search(row.proof)]


def wrong_ids_or_levels(rows: list[Row]) -> list[str]:
    """Ids that are not ASVS 5.0 requirements of a covered section, or carry the wrong level."""
    wrong = []
    for row in rows:
        for requirement in row.ids:
            section, _, number = requirement.rpartition(".")
            levels = ASVS_LEVELS.get(section, "")
            if not 1 <= int(number) <= len(levels):
                wrong.append(f"{requirement}: not an ASVS 5.0 requirement this file covers")
            elif row.level != f"L{levels[int(number) - 1]}":
                wrong.append(f"{requirement}: {row.level}, but ASVS 5.0 says "
                             f"L{levels[int(number) - 1]}")
    return wrong


def uncovered(rows: list[Row]) -> list[str]:
    """Level 1 and 2 requirements of the covered sections without a row."""
    listed = {requirement for row in rows for requirement in row.ids}
    return [f"{section}.{number}" for section, levels in ASVS_LEVELS.items()
            for number, level in enumerate(levels, start=1)
            if level in "12" and f"{section}.{number}" not in listed]


def test_every_test_the_security_policy_names_exists() -> None:
    missing = missing_tests(SECURITY_MD.read_text())
    assert not missing, "SECURITY.md names tests that do not exist:\n" + "\n".join(missing)


def test_the_security_policy_names_enough_tests_to_be_a_real_map() -> None:
    found = len(TEST_REFERENCE.findall(SECURITY_MD.read_text()))
    assert found >= MIN_REFERENCES, f"SECURITY.md names {found} tests, fewer than {MIN_REFERENCES}"


def test_every_requirement_row_names_a_test_or_says_why_it_cannot() -> None:
    rows = requirement_rows(SECURITY_MD.read_text())
    assert rows, "SECURITY.md has no requirement rows"
    bare = unproven(rows)
    assert not bare, ("rows with neither a test nor 'Does not apply: …' / 'Not met: …': "
                      + "; ".join(bare))


def test_every_requirement_row_is_a_real_asvs_5_requirement_at_its_level() -> None:
    wrong = wrong_ids_or_levels(requirement_rows(SECURITY_MD.read_text()))
    assert not wrong, "\n".join(wrong)


def test_every_level_1_and_2_requirement_of_a_covered_section_has_a_row() -> None:
    absent = uncovered(requirement_rows(SECURITY_MD.read_text()))
    assert not absent, "no row for " + ", ".join(absent)


def test_no_requirement_has_two_rows() -> None:
    listed = [requirement for row in requirement_rows(SECURITY_MD.read_text())
              for requirement in row.ids]
    twice = sorted({r for r in listed if listed.count(r) > 1})
    assert not twice, "more than one row for " + ", ".join(twice)
