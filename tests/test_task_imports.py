"""Tasks the HackSoft way, in every app with tasks and a services package: the services import the
tasks they queue at module level and pass the task itself; the tasks import the services inside
their bodies. import-linter (pyproject.toml) sees both arrows alike, so this keeps where each sits —
a function-level import of a task hides a cycle, a task looked up by name hides it from everyone."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = {"routing": ROOT / "routing", "ccp.events": ROOT / "ccp" / "events"}
TASK_NAME = re.compile(r"^[\w.]*\btasks\.\w+$")


def _imports(tree: ast.Module):
    """(imported module as written, relative level, imported names, inside a function?) of a module."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom):
                found.append((child.module or "", child.level, [a.name for a in child.names], in_function))
            elif isinstance(child, ast.Import):
                found.extend((a.name, 0, [], in_function) for a in child.names)
            visit(child, inside)

    visit(tree, False)
    return found


def _reached(module: str, level: int, names: list[str], app: str, depth: int) -> set[str]:
    """The app's own top modules an import statement reaches ('services', 'tasks', …); `depth` is
    how many packages below the app the importing file sits (1 for tasks.py, 2 for services/x.py)."""
    if level == 0:
        return {module[len(app) + 1 :].split(".")[0]} if module.startswith(app + ".") else set()
    if level != depth:  # relative to a package inside the app (or above it): not an app module
        return set()
    return {module.split(".")[0]} if module else set(names)


def _services_modules(app_dir: Path) -> list[Path]:
    return sorted((app_dir / "services").glob("*.py"))


@pytest.mark.parametrize("app", sorted(APPS))
def test_tasks_import_the_services_only_inside_their_bodies(app):
    tree = ast.parse((APPS[app] / "tasks.py").read_text())
    reaching = [(inside, _reached(m, lvl, n, app, depth=1)) for m, lvl, n, inside in _imports(tree)]
    module_level = [names for inside, names in reaching if not inside and names & {"services"}]
    in_bodies = [names for inside, names in reaching if inside and names & {"services"}]
    assert module_level == [], f"{app}.tasks imports services at module level: {module_level}"
    assert in_bodies, f"{app}.tasks calls no service at all?"


@pytest.mark.parametrize("app", sorted(APPS))
def test_services_import_tasks_at_module_level_and_never_by_name(app):
    modules = _services_modules(APPS[app])
    assert modules, f"{app} has no services package"
    at_top = []
    for path in modules:
        tree = ast.parse(path.read_text())
        for module, level, names, inside in _imports(tree):
            if "tasks" in _reached(module, level, names, app, depth=2):
                assert not inside, f"{path.relative_to(ROOT)} imports {module or names} inside a function"
                at_top.append(path.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not TASK_NAME.match(node.value), f"{path.relative_to(ROOT)} names a task: {node.value!r}"
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and node.args:
                target = node.args[0]
                assert getattr(target, "id", None) != "tasks", f"{path.relative_to(ROOT)} looks a task up by name"
    assert at_top, f"no service of {app} queues a task?"
