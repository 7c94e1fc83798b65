"""docs/configuration.md and .env.production.example are generated from the settings classes
(scripts/config/reference.py, `make config-docs`) and must not drift from them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values
from pydantic import SecretStr

from cga_auth.settings import AuthSettings
from cga_core.config import CommonSettings, Environment
from cga_core.migrations.cli import MigrationSettings
from cga_gateway.settings import GatewaySettings
from cga_memory_proxy.settings import MemoryProxySettings
from cga_worker.settings import WorkerSettings
from tests.deploy.conftest import REPO_ROOT

DOCS = REPO_ROOT / "docs" / "configuration.md"
ENV_EXAMPLE = REPO_ROOT / ".env.production.example"
SETTINGS: tuple[type[CommonSettings], ...] = (
    GatewaySettings,
    AuthSettings,
    MemoryProxySettings,
    WorkerSettings,
    MigrationSettings,
)


def every_variable() -> list[tuple[type[CommonSettings], str, str]]:
    return [
        (settings, field_name, settings.variable_name(field_name))
        for settings in SETTINGS
        for field_name in settings.model_fields
    ]


def generate(tmp_path: Path) -> tuple[str, str]:
    docs, env_example = tmp_path / "configuration.md", tmp_path / "env.example"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "config" / "reference.py"),
            *("--docs", str(docs), "--env-example", str(env_example)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return docs.read_text(), env_example.read_text()


@pytest.mark.parametrize("committed", [DOCS, ENV_EXAMPLE], ids=lambda path: path.name)
def test_the_committed_file_is_what_the_settings_generate(committed: Path, tmp_path: Path) -> None:
    docs, env_example = generate(tmp_path)
    expected = docs if committed == DOCS else env_example

    assert committed.exists(), f"{committed.name} is missing: run `make config-docs`"
    assert committed.read_text() == expected, (
        f"{committed.relative_to(REPO_ROOT)} is out of date with the settings classes:"
        " run `make config-docs`"
    )


@pytest.mark.parametrize(
    ("settings", "field_name", "variable"),
    every_variable(),
    ids=[f"{s.__name__}.{f}" for s, f, _ in every_variable()],
)
def test_every_setting_is_documented_and_in_the_example(
    settings: type[CommonSettings], field_name: str, variable: str
) -> None:
    docs = DOCS.read_text()
    example_lines = ENV_EXAMPLE.read_text().splitlines()

    assert f"| `{variable}` |" in docs
    description = settings.model_fields[field_name].description
    assert description, f"{settings.__name__}.{field_name} has no description"
    assert description.split("\n")[0][:40] in docs
    assert any(line.startswith((f"{variable}=", f"# {variable}=")) for line in example_lines), (
        variable
    )


def test_secret_defaults_never_appear() -> None:
    texts = DOCS.read_text() + ENV_EXAMPLE.read_text()
    for settings, field_name, variable in every_variable():
        default = settings.model_fields[field_name].default
        if isinstance(default, SecretStr) and default.get_secret_value():
            assert default.get_secret_value() not in texts, variable


def test_secrets_are_placeholders_in_the_example() -> None:
    values = dotenv_values(ENV_EXAMPLE)
    for settings, field_name, variable in every_variable():
        annotation = settings.model_fields[field_name].annotation
        if annotation is SecretStr:
            assert values[variable] == "CHANGE_ME", variable


def test_the_example_is_a_valid_production_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every service starts its settings from the example: production is enforced (https
    public URLs, no development secrets), so the example cannot be a development one."""
    for name in list(os.environ):
        if name.startswith("CGA_"):
            monkeypatch.delenv(name)
    for name, value in dotenv_values(ENV_EXAMPLE).items():
        if value is not None:
            monkeypatch.setenv(name, value)

    for settings_class in SETTINGS:
        settings = settings_class()
        assert settings.env is Environment.PRODUCTION
    assert str(GatewaySettings().public_url).startswith("https://")
    assert AuthSettings().issuer == GatewaySettings().issuer
