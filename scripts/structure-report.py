#!/usr/bin/env python3
"""Print the size of alforge's modules and the import graph between its parts.

A *part* is a sub-package of ``alforge`` (``alforge.db``, ``alforge.models``, ...) or a top-level
module (``alforge.config``). Imports are read from the source with :mod:`ast` (nothing is
imported), including imports inside functions, so the graph shows every dependency the code can
take at run time. The last section lists the heavy third-party libraries each part imports, which
is how the layering rules of ``docs/architecture.md`` (Prefect only in ``alforge/flows``) are
checked by eye.

Usage: python scripts/structure-report.py [--top N] [--root PATH]
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path

WATCHED = ("prefect", "fastapi", "sqlalchemy", "torch", "gpytorch", "pyscf", "typer", "tests")


def module_name(path: Path, root: Path) -> str:
    """Dotted name of the module in ``path`` (``alforge/db/__init__.py`` -> ``alforge.db``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str:
    """``alforge.db.schema`` -> ``db``; ``alforge.config`` -> ``config``; ``alforge`` -> ``(root)``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "(root)"


def imported_modules(path: Path, module: str, is_package: bool) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=25, help="how many of the largest modules to list (0: all)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="repository root (default: the one holding this script)")
    args = parser.parse_args()
    root: Path = args.root
    files = sorted(p for p in (root / "alforge").rglob("*.py") if "migrations" not in p.parts)
    sizes = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in files}

    print(f"alforge: {len(files)} modules, {sum(sizes.values())} lines (migrations not counted)\n")
    largest = sorted(sizes.items(), key=lambda item: (-item[1], str(item[0])))
    shown = largest if args.top <= 0 else largest[: args.top]
    print(f"Largest modules ({len(shown)} of {len(files)}):")
    for path, lines in shown:
        print(f"  {lines:5d}  {path.relative_to(root)}")

    per_part_lines: dict[str, int] = defaultdict(int)
    per_part_files: dict[str, int] = defaultdict(int)
    graph: dict[str, set[str]] = defaultdict(set)
    external: dict[str, set[str]] = defaultdict(set)
    for path in files:
        module = module_name(path, root)
        part = part_of(module)
        per_part_lines[part] += sizes[path]
        per_part_files[part] += 1
        for name in imported_modules(path, module, path.name == "__init__.py"):
            top = name.split(".")[0]
            if top == "alforge":
                target = part_of(name)
                if target not in {part, "(root)"}:
                    graph[part].add(target)
            elif top in WATCHED:
                external[part].add(top)

    print("\nParts (sub-packages and top-level modules): files, lines")
    for part in sorted(per_part_lines):
        print(f"  {part:16s} {per_part_files[part]:3d} {per_part_lines[part]:6d}")

    print("\nImport graph between parts (part -> parts it imports):")
    for part in sorted(per_part_lines):
        targets = ", ".join(sorted(graph.get(part, set()) & set(per_part_lines))) or "-"
        print(f"  {part:16s} -> {targets}")

    print(f"\nThird-party libraries imported ({', '.join(WATCHED)}):")
    for part in sorted(per_part_lines):
        print(f"  {part:16s} {', '.join(sorted(external.get(part, ()))) or '-'}")


if __name__ == "__main__":
    main()
