"""The production-like settings the bench starts the services with."""

from __future__ import annotations

import os

import pytest

from scripts.bench.system import production_like, production_like_by_default


def test_services_run_quiet_with_pools_sized_for_the_bench() -> None:
    settings = production_like({"CGA_ENV": "test"})

    assert settings["CGA_ENV"] == "test"
    assert settings["CGA_LOG_LEVEL"] == "WARNING"
    assert settings["CGA_ACCESS_LOG"] == "false"
    assert settings["CGA_GATEWAY_DATABASE_POOL_SIZE"] == "12"
    assert settings["CGA_MEMORY_PROXY_DATABASE_MAX_OVERFLOW"] == "4"


def test_the_settings_lent_to_the_environment_are_given_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CGA_LOG_LEVEL", "DEBUG")
    monkeypatch.delenv("CGA_ACCESS_LOG", raising=False)

    with production_like_by_default():
        assert os.environ["CGA_LOG_LEVEL"] == "WARNING"
        assert os.environ["CGA_ACCESS_LOG"] == "false"

    assert os.environ["CGA_LOG_LEVEL"] == "DEBUG"
    assert "CGA_ACCESS_LOG" not in os.environ
