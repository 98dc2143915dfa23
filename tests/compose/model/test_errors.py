"""Bad input: one line with file, line and key path, exit code 1, no traceback."""
from __future__ import annotations

import pytest

from compose.cli.main import main

CASES = {
    "invalid-yaml": ("services:\n  web:\n    image: [a\n", ":4: ", "did not find expected"),
    "ports-not-list": ("services:\n  web:\n    image: x\n    ports: 80\n",
                       ":4: services.web.ports: ", "80 is an integer, expected a sequence"),
    "services-as-list": ("services:\n  - web\n", ":1: services: ", "must be a mapping, not a sequence"),
    "services-as-bool": ("services: true\n", ":1: services: ", "must be a mapping, not a boolean"),
    "include-as-int": ("include: 3\nservices: {}\n", ":1: include: ", "must be a sequence, not an integer"),
    "include-nested-list": ("include: [[a]]\nservices: {}\n", ":1: include[0]: ",
                            "must be a string or a mapping, not a sequence"),
    "extends-as-list": ("services:\n  b:\n    image: x\n  web:\n    extends: [b]\n",
                        ":5: services.web.extends: ", "must be a string or a mapping, not a sequence"),
    "extends-null": ("services:\n  web:\n    extends:\n", ":3: services.web.extends: ",
                     "must be a string or a mapping, not null"),
    "list-value-in-yaml-terms": ("services:\n  web:\n    image: [busybox, latest]\n",
                                 ":3: services.web.image: ", "[busybox, latest] is a sequence, expected a string"),
    "unknown-key": ("services:\n  web:\n    image: x\n    foo: 1\n",
                    ":4: services.web.foo: ", "additional property 'foo' is not allowed"),
    "unknown-dependency": ("services:\n  web:\n    image: x\n    depends_on: [db]\n",
                           ":4: services.web.depends_on", "depends on undefined service 'db'"),
    "cycle": ("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
              ":4: ", "dependency cycle detected: a -> b -> a"),
    "undefined-network": ("services:\n  web:\n    image: x\n    networks: [front]\n",
                          ":4: services.web.networks.front: ", "undefined network 'front'"),
    "undefined-volume": ("services:\n  web:\n    image: x\n    volumes:\n      - data:/data\n",
                         ":5: services.web.volumes[0]: ", "undefined volume 'data'"),
    "required-variable": ("services:\n  web:\n    image: ${PC_TEST_UNSET_IMG:?image must be set}\n",
                          ":3: ", "required variable PC_TEST_UNSET_IMG is missing a value: image must be set"),
    "missing-env-file": ("services:\n  web:\n    image: x\n    env_file: ./missing.env\n",
                         ":4: services.web.env_file: ", "missing.env not found"),
    "container-name-scale": ("services:\n  web:\n    image: x\n    container_name: web\n    scale: 2\n",
                             ":4: services.web.container_name: ", "must be unique"),
    "network-mode-and-networks": ("services:\n  web:\n    image: x\n    network_mode: host\n    networks: [default]\n",
                                  ":4: services.web.network_mode: ", "cannot be combined"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line(name, tmp_path, capsys, monkeypatch):
    text, location, message = CASES[name]
    monkeypatch.delenv("PC_TEST_UNSET_IMG", raising=False)
    file = tmp_path / "compose.yaml"
    file.write_text(text)
    code = main(["-f", str(file), "config", "-q"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert "compose.yaml" + location in lines[0], lines[0]
    assert message in lines[0], lines[0]
