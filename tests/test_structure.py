"""The shape of the code (docs/architecture.md): layers import downwards only, no module imports
itself back through others, scripts are thin CLIs that import only the package, and no code
outside the agent kinds dispatches on an agent's kind."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# package -> folder of the source checkout
FOLDERS = {"earshot": "earshot", "earshot.scenes": "scenes", "earshot.acoustics": "acoustics",
           "earshot.av_env": "av_env", "earshot.datasets": "datasets", "earshot.agents": "agents"}
# each layer may import those below it (earshot's own modules, e.g. earshot.files, are below all)
LAYERS = ["earshot", "earshot.scenes", "earshot.acoustics", "earshot.av_env", "earshot.datasets", "earshot.agents"]


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in FOLDERS.items():
        base = ROOT / folder
        for path in base.rglob("*.py"):
            rel = path.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            out[name] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """earshot modules imported by module ``name``, anywhere in it (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = [f"{mod}.{a.name}" for a in node.names]
            # ``from package import module`` imports the module; the package only for other names
            targets = [t for t in subs if t in known] + ([mod] if any(t not in known for t in subs) else [])
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t.startswith("earshot"):
                found.add(t)
    found.discard(name)
    return found


def _layer(module: str) -> int:
    best = 0
    for i, layer in enumerate(LAYERS):
        if module == layer or module.startswith(layer + "."):
            best = i
    return best


def test_layers_import_downwards_only():
    mods = _modules()
    bad = []
    for name, path in mods.items():
        for target in _imports(name, path, set(mods)):
            if _layer(target) > _layer(name):
                bad.append(f"{name} imports {target}")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles():
    """Over every earshot module, imports inside functions included (a late import hides a
    cycle from Python, not from a reader)."""
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        graph[name] = {t for t in _imports(name, path, set(mods)) if t in mods}
        if path.name != "__init__.py":  # importing a package's module runs the package first: not a cycle
            graph[name] -= {name.rsplit(".", 1)[0]}
    # a package importing its own submodules is how packages work: a cycle counts when one of its
    # edges is not between a package and its own child
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                cycle = stack[stack.index(m):] + [m]
                if not all(b.startswith(a + ".") or a.startswith(b + ".") for a, b in zip(cycle, cycle[1:])):
                    cycles.append(" -> ".join(cycle))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "\n".join(cycles)


def test_scripts_import_only_the_package():
    scripts = sorted((ROOT / "scripts").glob("*.py"))
    names = {p.stem for p in scripts}
    bad = []
    for path in scripts:
        text = path.read_text()
        if re.search(r"sys\.path\.(insert|append)", text):
            bad.append(f"{path.name} patches sys.path")
        for node in ast.walk(ast.parse(text)):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            bad += [f"{path.name} imports the script {m}" for m in mods if m.split(".")[0] in names]
    assert not bad, "\n".join(bad)


def test_no_dispatch_on_agent_kinds_outside_the_kinds():
    pattern = re.compile(r"hasattr\([^)]*(lstm_actor|action_masks|map_image)|[=!]= *[\"']waypoint[\"']")
    hits = []
    for folder in ("agents", "av_env", "scripts", "datasets"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "kinds.py":
                continue
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)
