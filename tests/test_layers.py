"""The layer contract (.importlinter, docs/architecture.md) holds, and really bites.

Three checks: the venv's `lint-imports` passes on the tree as CI runs it; the same contracts
pass once the verbs compose/cli/main.py loads by name (strings in COMMANDS, invisible to an
import graph) are added as the imports they are; and each contract is broken by an import that
crosses the line it draws, so a contract that silently matches nothing would fail here.
"""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.testdeps import require

grimp = require("grimp", "import-linter")
require("importlinter", "import-linter")
from importlinter.application.use_cases import read_user_options  # noqa: E402
from importlinter.configuration import configure  # noqa: E402
from importlinter.contracts.forbidden import ForbiddenContract  # noqa: E402
from importlinter.contracts.layers import LayersContract  # noqa: E402

from compose.cli.main import COMMANDS

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / ".importlinter"
CONTRACT_TYPES = {"forbidden": ForbiddenContract, "layers": LayersContract}
CLIENT_LAYERS = ("compose.", "engine.client.")


@pytest.fixture(scope="module")
def options():
    configure()   # import-linter's readers are registered by its CLI; the API asks for this
    return read_user_options(str(CONFIG))


@pytest.fixture(scope="module")
def graph(options):
    roots = options.session_options["root_packages"]
    return grimp.build_graph(*roots, include_external_packages=False, cache_dir=None)


def broken_contracts(options, graph, extra: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """{contract id: what broke} for every contract not kept on `graph` plus `extra` imports."""
    graph = copy.deepcopy(graph)
    for importer, imported in extra:
        graph.add_import(importer=importer, imported=imported, line_number=1,
                         line_contents=f"import {imported}")
    broken = {}
    for contract_options in options.contracts_options:
        contract = CONTRACT_TYPES[contract_options["type"]](
            name=contract_options["name"], session_options=options.session_options,
            contract_options=contract_options)
        check = contract.check(copy.deepcopy(graph), verbose=False)
        if not check.kept:
            broken[contract_options["id"]] = str(check.metadata)[:2000]
    return broken


def command_imports() -> tuple[tuple[str, str], ...]:
    return tuple(("compose.cli.main", target.split(":", 1)[0]) for target in COMMANDS.values())


def test_lint_imports_passes_on_the_tree():
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint), "--config", str(CONFIG), "--no-cache"], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_the_contracts_hold_with_the_verbs_main_loads_by_name(options, graph):
    assert broken_contracts(options, graph, command_imports()) == {}


def test_every_verb_main_loads_by_name_lives_in_a_client_layer(graph):
    modules = graph.modules
    for verb, target in COMMANDS.items():
        module, _, attr = target.partition(":")
        assert module.startswith(CLIENT_LAYERS), f"{verb}: {module} is not client-side code"
        assert module in modules, f"{verb}: {module} is not a module of the tree"
        assert attr, f"{verb}: {target} names no app"


@pytest.mark.parametrize("contract, importer, imported", [
    ("netbridge-alone", "netbridge.manager", "engine.errors"),
    ("netbridge-alone", "netbridge.teardown", "engine.runtime.steptime"),
    ("netbridge-alone", "netbridge.ipam", "compose.model"),
    ("engine-not-compose", "engine.daemon", "compose.project"),
    ("engine-not-compose", "engine.client.cli.app", "compose.errors"),
    ("compose-through-client", "compose.orchestrator.session", "engine.config"),
    ("compose-through-client", "compose.orchestrator.builds", "engine.build.builder"),
    ("compose-through-client", "compose.cli.ps", "engine.containers.manager"),
    ("compose-through-client", "compose.cli.main", "netbridge.manager"),
    ("client-through-api", "engine.client.cli.image", "engine.build.bootstrap"),
    ("client-through-api", "engine.client.cli.login", "engine.images.auth"),
    ("client-through-api", "engine.client.api", "engine.api.shapes"),
    ("client-through-api", "engine.client.build", "engine.build.context"),
    ("daemon-not-client", "engine.containers.manager", "engine.client.api"),
    ("daemon-not-client", "engine.build.builder", "engine.client.build"),
    ("daemon-layers", "engine.images.configcheck", "engine.api.shapes"),
    ("daemon-layers", "engine.build.builder", "engine.containers.manager"),
    ("daemon-layers", "engine.runtime.runtime", "engine.images.store"),
    ("daemon-layers", "engine.errors", "engine.config"),
])
def test_a_crossing_import_breaks_its_contract(options, graph, contract, importer, imported):
    assert contract not in broken_contracts(options, graph)
    assert contract in broken_contracts(options, graph, ((importer, imported),))


def test_compose_may_use_the_client_and_the_shared_errors(options, graph):
    allowed = (("compose.cli.ps", "engine.client.api"), ("compose.cli.ps", "engine.errors"),
               ("compose.orchestrator.watch", "engine.dockerignore"))
    assert broken_contracts(options, graph, allowed) == {}

