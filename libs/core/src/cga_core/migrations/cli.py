"""``cga-migrate``: apply or inspect the schema migrations."""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config
from pydantic_settings import SettingsConfigDict

from cga_core.config import CommonSettings, load_settings
from cga_core.logging import configure_logging

MIGRATIONS_DIR = Path(__file__).resolve().parent


class MigrationSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="CGA_MIGRATE_")


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "file_template",
        "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s",
    )
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="cga-migrate", description="Apply or inspect database migrations."
    )
    sub = parser.add_subparsers(dest="action")
    upgrade = sub.add_parser("upgrade", help="upgrade to a revision (default: head)")
    upgrade.add_argument("revision", nargs="?", default="head")
    downgrade = sub.add_parser("downgrade", help="downgrade to a revision, e.g. -1")
    downgrade.add_argument("revision")
    sub.add_parser("current", help="show the database's revision")
    sub.add_parser("history", help="list all revisions")
    sub.add_parser("check", help="fail if the models differ from the migrations")
    args = parser.parse_args(argv)

    settings = load_settings(MigrationSettings, "cga-migrate")
    configure_logging(
        service="migrate", level=settings.log_level, log_format=settings.effective_log_format
    )
    config = alembic_config(settings.database_url.get_secret_value())
    match args.action:
        case None | "upgrade":
            command.upgrade(config, getattr(args, "revision", "head"))
        case "downgrade":
            command.downgrade(config, args.revision)
        case "current":
            command.current(config, verbose=True)
        case "history":
            command.history(config, verbose=True)
        case "check":
            command.check(config)
