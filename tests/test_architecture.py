"""The package's layers, as docs/ARCHITECTURE.md draws them: imports only go down.

Read from the source with `ast` (no imports run), so a change that makes a
lower layer reach up, or two modules import each other, fails here.
"""

import ast

from conftest import ROOT

PACKAGE = ROOT / "electra_keras"
# Lowest first. A module may import its own layer and the layers below.
LAYERS = [
    ("electra_keras.files", "electra_keras.config"),
    ("electra_keras.data",),
    # Labelled files and their metrics: read with data's tokenizers, know no model.
    ("electra_keras.tasks.formats",),
    ("electra_keras.models",),
    ("electra_keras.pretraining",),
    ("electra_keras.runs",),
    ("electra_keras.interop",),
    ("electra_keras.export",),
    # The task plug-ins (a format, a head, a serving module, a Hugging Face class each) and the loop's parts.
    ("electra_keras.finetuning", "electra_keras.tasks"),
    # The jobs: each package's `job` module sits on top of every package.
    ("electra_keras.pretraining.job", "electra_keras.export.job", "electra_keras.finetuning.job"),
    ("electra_keras.cli",),
]


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module):
    best = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    return None if best is None else best[0]


def imports_of(path):
    """`(imported module, line, at module level)` of every electra_keras import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("electra_keras"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() or (
                    PACKAGE.parent / candidate.replace(".", "/")
                ).is_dir()
                found.append((candidate if is_module else node.module, node.lineno, id(node) in top_level))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("electra_keras"):
                    found.append((alias.name, node.lineno, id(node) in top_level))
    return found


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def test_every_module_has_a_layer():
    unplaced = [name for name in MODULES if name != "electra_keras" and layer_of(name) is None]
    assert not unplaced


def test_imports_only_go_down_the_layers():
    upward = []
    for name, path in MODULES.items():
        if name == "electra_keras":  # the package's public names
            continue
        for imported, line, _ in imports_of(path):
            if imported == "electra_keras":
                upward.append(f"{path.relative_to(ROOT)}:{line} imports the top-level package")
            elif layer_of(imported) > layer_of(name):
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not upward, "\n".join(upward)


def test_no_import_cycles_between_modules():
    edges = {name: {m for m, _, top in imports_of(path) if top and m in MODULES} for name, path in MODULES.items()}
    state = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", " -> ".join([*trail, name])
        state[name] = "open"
        for other in edges[name]:
            # A package's __init__ importing its own modules is not a cycle.
            if other != name and not name.startswith(other + "."):
                visit(other, [*trail, name])
        state[name] = "done"

    for name in edges:
        visit(name, [])


def test_the_layering_rule_catches_an_upward_import(tmp_path):
    offender = tmp_path / "offender.py"
    offender.write_text("from electra_keras.runs.run_folder import RunFolder\n")
    (imported, _, _), = imports_of(offender)
    assert imported == "electra_keras.runs.run_folder"
    assert layer_of(imported) > layer_of("electra_keras.data.corpus")


def test_the_moved_labelled_names_are_still_importable_from_data():
    from electra_keras import data
    from electra_keras.tasks.formats import labelled_rows
    from electra_keras.tasks.formats import squad
    from electra_keras.tasks.formats import tagging

    assert data.read_labelled is labelled_rows.read_labelled
    assert data.read_tagged is tagging.read_tagged
    assert data.read_squad is squad.read_squad
    assert not any((PACKAGE / "data" / f"{name}.py").exists() for name in ("labelled_rows", "tagging", "squad"))
