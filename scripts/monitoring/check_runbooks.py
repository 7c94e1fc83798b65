"""Check the runbooks in docs/runbooks/ against the alerts and the code (`make runbook-check`).

    python -m scripts.monitoring.check_runbooks [--root DIR]

A problem is reported, and the exit status is 1, when

- an alert of ``monitoring/prometheus-rules/*.rules.yaml`` has no ``docs/runbooks/<Alert>.md``,
  no ``runbook_url``, or a ``runbook_url`` naming a runbook file that does not exist;
- a runbook lacks a section: Meaning, Impact, Diagnosis and Mitigation for an alert; When to
  use, Before you start, Steps, Verify and Roll back for an operation;
- ``docs/runbooks/README.md`` does not link to a runbook, or a runbook links to a missing file;
- a ``bash``, ``sh``, ``shell`` or ``console`` code block runs a command that does not exist:
  ``cga-admin`` commands, options and argument counts are looked up in its real command tree,
  ``make`` targets in the Makefile, ``cga-*`` programs in the workspace's ``[project.scripts]``,
  ``scripts/...`` paths in the tree; any other program must be in ``EXTERNAL_PROGRAMS``.
"""

from __future__ import annotations

import math
import re
import shlex
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from cga_admin.cli import app as admin_app
from scripts.monitoring.cli import run_check
from scripts.monitoring.rule_files import RuleFile, rule_paths

RUNBOOKS = Path("docs/runbooks")
INDEX = "README.md"
ALERT_PREFIX = "CustomGptAdapter"
ALERT_SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation")
OPERATION_SECTIONS = ("When to use", "Before you start", "Steps", "Verify", "Roll back")

# Programs a runbook may run besides our own. Anything else is a typo, or a tool the on-call
# engineer may not have: add it here only with a reason.
EXTERNAL_PROGRAMS = frozenset(
    {
        # the cluster, the release and the monitoring stack
        "kubectl",
        "helm",
        "promtool",
        "amtool",
        # PostgreSQL, Redis and HTTP
        "psql",
        "redis-cli",
        "curl",
        # shell built-ins and the text tools of pipelines
        "cd",
        "export",
        "echo",
        "printf",
        "sleep",
        "date",
        "base64",
        "jq",
        "grep",
        "head",
        "tail",
        "sort",
        "wc",
    }
)

SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})
FENCE = re.compile(r"^\s*(?:```|~~~)\s*([\w-]*)")
HEADING = re.compile(r"^#{2,6}\s+(.+?)\s*$", re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s#]+)")
RUNBOOK_IN_URL = re.compile(r"docs/runbooks/([^/?#]+\.md)")
MAKE_TARGET = re.compile(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", re.MULTILINE)
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
OPERATORS = frozenset({"|", "||", "&&", ";", "&"})
REDIRECT = re.compile(r"(?:\d*|&)(?:>>?|<)")
PLACEHOLDER = re.compile(r"<[^<>\s]+>")  # `<client_id>`: an argument to fill in, not a redirect
ASSIGNMENT = re.compile(r"[A-Za-z_]\w*=")


@dataclass(frozen=True)
class Project:
    """What runbook commands are checked against."""

    root: Path
    make_targets: frozenset[str]
    entry_points: frozenset[str]
    admin: Any  # cga-admin's command tree (Typer's click Group)

    @classmethod
    def load(cls, root: Path) -> Project:
        makefile = root / "Makefile"
        targets = MAKE_TARGET.findall(makefile.read_text()) if makefile.is_file() else []
        return cls(
            root=root,
            make_targets=frozenset(targets),
            entry_points=frozenset(_entry_points(root)),
            admin=typer.main.get_command(admin_app),
        )


def _entry_points(root: Path) -> Iterator[str]:
    """The ``[project.scripts]`` of the root project and of every workspace member."""
    workspace = tomllib.loads((root / "pyproject.toml").read_text())
    members = workspace.get("tool", {}).get("uv", {}).get("workspace", {}).get("members", [])
    documents = [workspace]
    for pattern in members:
        documents += [tomllib.loads(p.read_text()) for p in root.glob(f"{pattern}/pyproject.toml")]
    for document in documents:
        yield from document.get("project", {}).get("scripts", {})


@dataclass(frozen=True)
class AlertRule:
    name: str
    source: str
    runbook_url: str | None


def alert_rules(root: Path) -> Iterator[AlertRule]:
    for path in rule_paths(root):
        source = str(path.relative_to(root))
        for rule in RuleFile.load(path).alerts():
            annotations = rule.get("annotations") or {}
            yield AlertRule(rule["alert"], source, annotations.get("runbook_url"))


def check_alerts(rules: Iterable[AlertRule], root: Path) -> Iterator[str]:
    for rule in rules:
        where = f"{rule.source}: alert {rule.name}"
        runbook = f"{rule.name}.md"
        if not (root / RUNBOOKS / runbook).is_file():
            yield f"{where}: no runbook {RUNBOOKS / runbook}"
        if rule.runbook_url is None:
            yield f"{where}: no runbook_url annotation"
        elif (named := RUNBOOK_IN_URL.search(rule.runbook_url)) is None:
            yield f"{where}: runbook_url {rule.runbook_url} does not point into {RUNBOOKS}/"
        elif named[1] != runbook:
            missing = "" if (root / RUNBOOKS / named[1]).is_file() else ", which does not exist"
            yield f"{where}: runbook_url names {RUNBOOKS / named[1]}{missing}, not {runbook}"


def check_sections(where: str, text: str, required: Iterable[str]) -> Iterator[str]:
    headings = set(HEADING.findall(text))
    missing = [section for section in required if section not in headings]
    if missing:
        yield f"{where}: missing section(s): {', '.join(missing)}"


def linked_files(path: Path, text: str) -> set[Path]:
    """The local files a Markdown file links to (web links and anchors aside)."""
    return {
        (path.parent / target).resolve()
        for target in LINK.findall(text)
        if "://" not in target and not target.startswith("mailto:")
    }


def check_links(where: str, path: Path, text: str) -> Iterator[str]:
    for target in sorted(linked_files(path, text)):
        if not target.exists():
            yield f"{where}: links to {target.name}, which does not exist"


def check_index(index: Path, runbooks: Iterable[Path]) -> Iterator[str]:
    if not index.is_file():
        yield f"{RUNBOOKS / INDEX}: missing (the index of the runbooks)"
        return
    indexed = linked_files(index, index.read_text())
    for path in runbooks:
        if path.resolve() not in indexed:
            yield f"{RUNBOOKS / INDEX}: does not link to {path.name}"


def shell_lines(text: str) -> Iterator[tuple[int, str]]:
    """Each command of the shell code blocks with the number of its first line; continuation
    lines are joined, and in ``console`` blocks only ``$ `` lines count (the rest is output)."""
    language: str | None = None  # of the open code block
    start, parts = 0, list[str]()
    for number, raw in enumerate(text.splitlines(), 1):
        if fence := FENCE.match(raw):
            language = fence[1] if language is None else None
            parts = []
            continue
        if language not in SHELL_LANGUAGES:
            continue
        line = raw.rstrip()
        if not parts:
            if language == "console":
                if not line.lstrip().startswith("$ "):
                    continue
                line = line.lstrip()[2:]
            start = number
        parts.append(line.removesuffix("\\"))
        if not line.endswith("\\"):
            yield start, " ".join(parts)
            parts = []


def simple_commands(line: str) -> Iterator[list[str]]:
    """The commands of one shell line: those of its ``$(...)`` first, then each part between
    operators, without redirections and leading variable assignments."""
    for inner in SUBSTITUTION.findall(line):
        yield from simple_commands(inner)
    command: list[str] = []
    target_follows = False
    for word in shlex.split(SUBSTITUTION.sub("SUBSTITUTED", line), comments=True):
        if target_follows:
            target_follows = False
        elif word in OPERATORS:
            yield _without_assignments(command)
            command = []
        elif PLACEHOLDER.fullmatch(word) or not REDIRECT.match(word):
            command.append(word)
        else:  # `2>&1`, `>out` or a bare `>` whose file is the next word
            target_follows = REDIRECT.fullmatch(word) is not None
    yield _without_assignments(command)


def _without_assignments(words: list[str]) -> list[str]:
    while words and ASSIGNMENT.match(words[0]):
        words = words[1:]
    return words


def check_program(words: list[str], project: Project) -> Iterator[str]:
    """One simple command: its program exists, and so do its make targets or cga-admin
    command; ``sh -c``, ``bash SCRIPT`` and ``kubectl ... -- COMMAND`` are looked into."""
    if not words:
        return
    program, args = words[0].removeprefix("./").removeprefix(".venv/bin/"), words[1:]
    if program.startswith("scripts/"):
        return  # its path is checked with every other scripts/ word
    if program == "make":
        unknown = sorted(_make_targets(args) - project.make_targets)
        yield from (f"make has no target {target}" for target in unknown)
    elif program in {"sh", "bash"}:
        if args[:1] == ["-c"] and len(args) > 1:
            for command in simple_commands(args[1]):
                yield from check_program(command, project)
        else:
            yield from check_program(args, project)
    elif program.startswith("cga-"):
        yield from check_ours(program, args, project)
    elif program not in EXTERNAL_PROGRAMS:
        yield f"unknown program {program} (neither ours nor in EXTERNAL_PROGRAMS)"
    elif program == "kubectl" and "--" in args:  # kubectl exec/run ... -- <command in the pod>
        yield from check_program(args[args.index("--") + 1 :], project)


def _make_targets(args: list[str]) -> set[str]:
    return {arg for arg in args if not arg.startswith("-") and "=" not in arg}


def check_ours(program: str, args: list[str], project: Project) -> Iterator[str]:
    if program not in project.entry_points:
        yield f"{program} is not a program of the workspace ([project.scripts])"
    elif program == "cga-admin":
        yield from check_admin(args, project.admin)


def _options(command: Any) -> dict[str, bool]:
    """Option name -> whether it takes a value."""
    table = {"--help": False}
    for param in command.params:
        if param.param_type_name == "option":
            for name in (*param.opts, *param.secondary_opts):
                table[name] = not (param.is_flag or param.count)
    return table


def _argument_range(command: Any) -> tuple[int, float]:
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    fewest = sum(max(p.nargs, 1) for p in arguments if p.required)
    most = math.inf if any(p.nargs < 0 for p in arguments) else sum(p.nargs for p in arguments)
    return fewest, most


def check_admin(args: list[str], command: Any) -> Iterator[str]:
    """``cga-admin ARGS`` against the command tree: each group's command, each command's options
    and its number of arguments."""
    path, positionals = "cga-admin", list[str]()
    words = iter(args)
    for word in words:
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            options = _options(command)
            if name not in options:
                yield f"`{path}` has no option {name}"
                return
            if options[name] and "=" not in word:
                next(words, None)
        elif hasattr(command, "commands"):
            if word not in command.commands:
                known = ", ".join(sorted(command.commands))
                yield f"`{path}` has no command {word} (it has: {known})"
                return
            command, path = command.commands[word], f"{path} {word}"
        else:
            positionals.append(word)
    if "--help" in args:
        return
    if hasattr(command, "commands"):
        yield f"`{path}` needs one of its commands: {', '.join(sorted(command.commands))}"
        return
    fewest, most = _argument_range(command)
    if not fewest <= len(positionals) <= most:
        expected = fewest if fewest == most else f"{fewest} to {most}"
        yield f"`{path}` takes {expected} argument(s), not {len(positionals)}: {positionals}"


def check_commands(where: str, text: str, project: Project) -> Iterator[str]:
    for number, line in shell_lines(text):
        try:
            commands = list(simple_commands(line))
        except ValueError as exc:  # shlex: an unclosed quote
            yield f"{where}:{number}: cannot read the command: {exc}"
            continue
        for words in commands:
            for word in words:
                path = word.removeprefix("./")
                if path.startswith("scripts/") and not (project.root / path).exists():
                    yield f"{where}:{number}: {path} does not exist"
            for problem in check_program(words, project):
                yield f"{where}:{number}: {problem}"


def check(root: Path) -> list[str]:
    """Every problem of the runbooks under ``root``, as ``where: what`` lines."""
    project = Project.load(root)
    rules = list(alert_rules(root))
    alerts = {rule.name for rule in rules}
    problems = list(check_alerts(rules, root))
    index = root / RUNBOOKS / INDEX
    runbooks = sorted(p for p in (root / RUNBOOKS).glob("*.md") if p.name != INDEX)
    for path in runbooks:
        is_alert = path.stem in alerts or path.stem.startswith(ALERT_PREFIX)
        sections = ALERT_SECTIONS if is_alert else OPERATION_SECTIONS
        problems += check_sections(str(path.relative_to(root)), path.read_text(), sections)
    problems += check_index(index, runbooks)
    for path in [index, *runbooks] if index.is_file() else runbooks:
        where, text = str(path.relative_to(root)), path.read_text()
        problems += check_links(where, path, text)
        problems += check_commands(where, text, project)
    return list(dict.fromkeys(problems))  # an alert defined by several rules is reported once


def _checked(root: Path) -> str:
    return f"{len(list((root / RUNBOOKS).glob('*.md')))} file(s) in {RUNBOOKS}"


def main(argv: list[str] | None = None) -> int:
    return run_check(argv, doc=__doc__, name="runbook-check", check=check, scope=_checked)


if __name__ == "__main__":
    sys.exit(main())
