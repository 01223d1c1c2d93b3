"""Rules that keep each kind of change in one place (docs/architecture.md, "Where a change goes")."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from h7 import registry

REPO = Path(__file__).resolve().parent.parent
#: where code may spell an alert code besides the channel module that declares it
CODE_LITERALS_ALLOWED = ("h7/demo/attacks/",)


def _py_files(*roots: str) -> list[Path]:
    return sorted(p for r in roots for p in (REPO / r).rglob("*.py") if "__pycache__" not in p.parts)


def test_alert_codes_are_written_only_in_their_channel_module() -> None:
    """An alert code is a string literal only in the module that declares it (and the demo's attacks).

    Everything else (sink titles, config checks, the demo's expectations)
    asks :mod:`h7.registry`, so adding a code is an edit of one file.  Tests
    are exempt: they assert on specific codes on purpose.
    """
    owner = {}
    for spec in registry.specs():
        mod = sys.modules[spec.factory.__module__]
        assert mod.__file__ is not None
        for c in spec.codes:
            owner[c.code] = Path(mod.__file__).resolve().relative_to(REPO).as_posix()
    bad = []
    for path in _py_files("h7", "bench", "_build"):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(CODE_LITERALS_ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), rel)):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in owner
                and owner[node.value] != rel
            ):
                bad.append(f"{rel}:{node.lineno}: {node.value} (declared in {owner[node.value]})")
    assert not bad, "alert codes written outside their channel module:\n" + "\n".join(bad)


def test_every_builtin_channel_module_declares_itself() -> None:
    mods = {spec.factory.__module__ for spec in registry.specs()}
    assert set(registry.BUILTIN_MODULES) <= mods


def test_the_docs_name_every_channels_codes_as_the_registry_does() -> None:
    """README's channel table and docs/detection.md's channel headings list exactly the registry's codes.

    Why: the registry is where a code is added (one edit); these two pages are where an
    operator looks a code up, and a code missing there is an alert nobody can explain.
    """
    want = {spec.name: [c.code for c in spec.codes] for spec in registry.specs()}
    readme = {
        m.group(1): re.findall(r"`([A-Z_]+)`", m.group(2))
        for m in re.finditer(r"^\| (L\d) \|[^\n]*\|([^|\n]*)\|$", (REPO / "README.md").read_text(), re.M)
    }
    assert readme == want, "README.md's channel table"
    detection = {
        m.group(1): re.findall(r"`([A-Z_]+)`", m.group(2))
        for m in re.finditer(
            r"^### (L\d) [^\n]*?—([^\n]*)$", (REPO / "docs" / "detection.md").read_text(), re.M
        )
    }
    assert detection == want, "docs/detection.md's channel headings"


def test_the_readme_layout_names_the_tree() -> None:
    """README's Layout block names only paths that exist, and every top-level folder and h7 package.

    Why: the layout is how a reader finds kernel -> ring buffer -> decode -> channels ->
    alert -> .cal -> sink in the tree; a folder it omits is a part nobody is shown.
    """
    text = (REPO / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    named = {p.rstrip("/,") for line in block.splitlines() for p in re.findall(r"[\w./-]+/[\w./-]*", line)}
    named = {p for p in named if ".." not in p and not p[0].isdigit()}  # channels/l1..l5, 6.1/6.12
    assert sorted(p for p in named if not (REPO / p).exists()) == []
    generated = {"build", "dist", "docs", "__pycache__"}  # docs/: the "Docs:" line after the block
    tops = {p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".")}
    tops -= generated | {p.name for p in REPO.glob("*.egg-info")}
    packages = {f"h7/{p.parent.name}" for p in (REPO / "h7").glob("*/__init__.py")}
    assert sorted(tops - {p.split("/")[0] for p in named}) == []
    assert sorted(packages - named) == []


def test_the_docs_use_only_options_the_cli_has_and_name_every_one() -> None:
    """Every ``h7 <command> ... --option`` the README and docs write is an option of that command,
    every option of every command is named somewhere in them, and has a line in its ``--help``.

    Why: operators copy these lines; an option renamed in the code and not in the docs is a
    one-line error on their first try, and an undocumented one is a feature nobody finds.
    """
    import click

    from h7.cli import main

    opts = {
        name: {o for p in c.params for o in (*p.opts, *p.secondary_opts)} for name, c in main.commands.items()
    }
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    bad = []
    for page in pages:
        for n, line in enumerate(page.read_text().splitlines(), 1):
            for m in re.finditer(r"\bh7 ([a-z][a-z-]*)([^`|;&#\n]*)", line):
                if m.group(1) not in opts:
                    continue  # prose ("h7 command", "from h7 import ...")
                for o in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", m.group(2)):
                    if o not in opts[m.group(1)] | {"--help"}:
                        bad.append(f"{page.name}:{n}: h7 {m.group(1)} has no {o}")
    assert not bad, "\n".join(bad)
    text = "".join(p.read_text() for p in pages)
    undocumented = sorted(
        f"h7 {name} {o}" for name, os_ in opts.items() for o in os_ if o.startswith("--") and o not in text
    )
    assert undocumented == [], undocumented
    silent = [
        f"h7 {n} {p.opts[-1]}"
        for n, c in main.commands.items()
        for p in c.params
        if isinstance(p, click.Option) and not p.help
    ]
    assert silent == [], f"options with no line in --help (nor in the man page built from it): {silent}"


def _imports(path: Path, modules: set[str], name: str) -> set[str]:
    """The h7 modules ``path`` imports, lazily or not (``if TYPE_CHECKING:`` blocks excepted)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    out: set[str] = set()
    for m in found:
        while m and m not in modules:
            m = m.rpartition(".")[0]
        while m:  # importing a.b.c runs a/__init__ and a/b/__init__ first
            if m in modules and m != name and not name.startswith(m + "."):
                out.add(m)
            m = m.rpartition(".")[0]
    return out


def test_no_import_cycles_between_h7_modules() -> None:
    """Lazy (function-level) imports count too: a cycle is a cycle whenever it is taken."""
    files = {}
    for p in _py_files("h7"):
        parts = list(p.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = p
    graph = {m: _imports(p, set(files), m) for m, p in files.items()}
    # Tarjan's strongly connected components, iteratively
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    cycles.append(sorted(comp))
    assert not cycles, f"import cycles: {cycles}"


def test_no_bench_or_eval_module_is_installed() -> None:
    """Benchmarks live in bench/, evaluations in eval/: neither ships in the package or the .deb."""
    bad = [
        p.relative_to(REPO).as_posix()
        for p in _py_files("h7")
        if "bench" in p.stem or "eval" in p.stem.split("_") or p.stem.endswith("_eval")
    ]
    assert not bad, bad


def _runtime_imports() -> set[str]:
    """Top-level distributions the installed package (h7/) imports, lazily or not."""
    stdlib = set(sys.stdlib_module_names)
    found: set[str] = set()
    for p in _py_files("h7"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found |= {n.split(".")[0] for n in names}
    return {n for n in found if n not in stdlib and n not in ("h7", "_cffi_backend")}


def test_dependencies_are_declared_for_what_imports_them() -> None:
    """pyproject's runtime dependencies and the .deb's Depends are exactly what h7/ imports."""
    text = (REPO / "pyproject.toml").read_text()
    block = text[text.index("\ndependencies = [") : text.index("]", text.index("\ndependencies = ["))]
    declared = {re.split(r"[<>=!~ ]", d)[0].lower() for d in re.findall(r'"([^"]+)"', block)}
    # the compiled extension (h7/_libbpf, built by _build/build_libbpf.py) imports cffi's backend
    imported = _runtime_imports() | {"cffi"}
    assert imported == declared, (imported, declared)
    control = (REPO / "debian" / "control").read_text()
    depends = control[control.index("\nPackage: h7") :]
    depends = depends[depends.index("Depends:") : depends.index("Description:")]
    for dist in declared - {"cffi"}:  # cffi's runtime half is python3-cffi-backend
        assert f"python3-{dist}" in depends, dist
    assert "python3-cffi-backend" in depends
    # nor to build it: the package build runs no tests (PYBUILD_DISABLE = test)
    assert "scipy" not in imported and "python3-scipy" not in control
