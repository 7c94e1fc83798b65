"""`make runbook-check` passes on the repository and fails, saying why, on broken runbooks.

The broken cases run the checker on a private copy of what it reads (the runbooks, the
Makefile, the workspace's pyproject files, scripts/), with one defect added each.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cga_auth.metrics import AUTH_FAILURE_REASONS
from scripts.monitoring.check_runbooks import RUNBOOKS, check, main
from scripts.monitoring.rule_files import RULES

REPO = Path(__file__).resolve().parents[2]
DRILL = "drill.md"
ALERT = "CustomGptAdapterDrill"
ALERT_RUNBOOK = f"{ALERT}.md"
ALERT_SECTIONS = "## Meaning\n\n## Impact\n\n## Diagnosis\n\n## Mitigation\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / RUNBOOKS, tmp_path / RUNBOOKS)
    shutil.copytree(REPO / "scripts", tmp_path / "scripts", ignore=ignore)
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    members = [*REPO.glob("libs/*/pyproject.toml"), *REPO.glob("services/*/pyproject.toml")]
    for pyproject in [REPO / "pyproject.toml", *members]:
        target = tmp_path / pyproject.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(pyproject, target)
    (tmp_path / RULES).mkdir(parents=True)
    return tmp_path


def add_runbook(tree: Path, name: str, text: str, *, indexed: bool = True) -> None:
    (tree / RUNBOOKS / name).write_text(text)
    if indexed:
        with (tree / RUNBOOKS / "README.md").open("a") as index:
            index.write(f"\n- [{name}]({name})\n")


def operation(steps: str) -> str:
    """An operations runbook with every section, running ``steps``."""
    return (
        "# Drill\n\n## When to use\n\n## Before you start\n\n"
        f"## Steps\n\n{steps}\n\n## Verify\n\n## Roll back\n"
    )


def bash(*lines: str) -> str:
    return "```bash\n" + "\n".join(lines) + "\n```"


def add_alert(tree: Path, runbook_url: str | None) -> None:
    annotations = (
        f"\n        annotations:\n          runbook_url: {runbook_url}" if runbook_url else ""
    )
    (tree / RULES / "drill.rules.yaml").write_text(
        "groups:\n  - name: drill\n    rules:\n"
        f"      - alert: {ALERT}\n        expr: vector(1){annotations}\n"
        "      - record: cga:drill:rate5m\n        expr: vector(1)\n"
    )


def url(runbook: str) -> str:
    return f"https://git.example.com/cga/blob/main/docs/runbooks/{runbook}"


def problems_of(tree: Path, name: str) -> list[str]:
    return [problem for problem in check(tree) if name in problem]


def test_the_repository_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.monitoring.check_runbooks"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems" in result.stdout


def test_the_sign_in_runbook_explains_every_auth_failure_reason() -> None:
    runbook = (REPO / RUNBOOKS / "gpt-sign-in-failures.md").read_text()
    assert sorted(r for r in AUTH_FAILURE_REASONS if f"`{r}`" not in runbook) == []


def test_real_commands_pass(tree: Path) -> None:
    steps = bash(
        'export CGA_ADMIN_TOKEN="$(kubectl -n cga get secret cga'
        " -o jsonpath='{.data.T}' | base64 -d)\"",
        "cga-admin --admin-url http://127.0.0.1:8011 apps create --name 'A GPT' \\",
        "  --redirect-uri https://chatgpt.com/aip/g-1/oauth/callback --scope memories:read",
        "cga-admin audit --app <client_id> --since 1h --json | jq '.[0]' > audit.json  # comment",
        "cga-admin jobs replay --all-failed 2>&1 | grep -c replayed",
        "cga-admin apps delete <client_id> -y",
        "kubectl -n cga exec deploy/x -- sh -c 'CGA_ADMIN_TOKEN=$T cga-admin apps list'",
        "make runbook-check && scripts/deploy/rollback.sh --dry-run",
        "CGA_ENV=development .venv/bin/cga-migrate current",
    )
    console = "```console\n$ cga-admin status\nservice  state\ngateway  ready\n```"
    add_runbook(tree, DRILL, operation(f"{steps}\n\n{console}"))
    assert problems_of(tree, DRILL) == []


def test_an_alert_without_a_runbook_fails(tree: Path) -> None:
    add_alert(tree, url(ALERT_RUNBOOK))
    assert problems_of(tree, ALERT) == [
        f"{RULES}/drill.rules.yaml: alert {ALERT}: no runbook {RUNBOOKS}/{ALERT_RUNBOOK}"
    ]


def test_an_alert_with_its_runbook_passes(tree: Path) -> None:
    add_alert(tree, url(ALERT_RUNBOOK))
    add_runbook(tree, ALERT_RUNBOOK, f"# {ALERT}\n\n{ALERT_SECTIONS}")
    assert problems_of(tree, ALERT) == []


def test_a_runbook_url_to_a_missing_file_fails(tree: Path) -> None:
    add_alert(tree, url("CustomGptAdapterDril.md"))
    add_runbook(tree, ALERT_RUNBOOK, f"# {ALERT}\n\n{ALERT_SECTIONS}")
    assert problems_of(tree, ALERT) == [
        f"{RULES}/drill.rules.yaml: alert {ALERT}: runbook_url names"
        f" {RUNBOOKS}/CustomGptAdapterDril.md, which does not exist, not {ALERT_RUNBOOK}"
    ]


def test_an_alert_without_a_runbook_url_fails(tree: Path) -> None:
    add_alert(tree, None)
    add_runbook(tree, ALERT_RUNBOOK, f"# {ALERT}\n\n{ALERT_SECTIONS}")
    assert problems_of(tree, ALERT) == [
        f"{RULES}/drill.rules.yaml: alert {ALERT}: no runbook_url annotation"
    ]


def test_an_alert_runbook_without_its_sections_fails(tree: Path) -> None:
    add_alert(tree, url(ALERT_RUNBOOK))
    add_runbook(tree, ALERT_RUNBOOK, f"# {ALERT}\n\n## Meaning\n\n## Impact\n\n## Fix\n")
    assert problems_of(tree, ALERT) == [
        f"{RUNBOOKS}/{ALERT_RUNBOOK}: missing section(s): Diagnosis, Mitigation"
    ]


def test_an_operations_runbook_without_its_sections_fails(tree: Path) -> None:
    add_runbook(tree, DRILL, "# Drill\n\n## When to use\n\n## Steps\n\n## Verify\n")
    assert problems_of(tree, DRILL) == [
        f"{RUNBOOKS}/{DRILL}: missing section(s): Before you start, Roll back"
    ]


def test_a_runbook_missing_from_the_index_fails(tree: Path) -> None:
    add_runbook(tree, DRILL, operation("Nothing to run."), indexed=False)
    assert problems_of(tree, DRILL) == [f"{RUNBOOKS}/README.md: does not link to {DRILL}"]


def test_a_link_to_a_missing_file_fails(tree: Path) -> None:
    add_runbook(tree, DRILL, operation("See [the guide](../guides/missing-guide.md)."))
    assert problems_of(tree, DRILL) == [
        f"{RUNBOOKS}/{DRILL}: links to missing-guide.md, which does not exist"
    ]


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("cga-admin apps remove <client_id>", "`cga-admin apps` has no command remove"),
        ("cga-admin users create --email a@example.com", "`cga-admin users create` has no option"),
        ("cga-admin apps show", "`cga-admin apps show` takes 1 argument(s), not 0"),
        ("cga-admin jobs", "`cga-admin jobs` needs one of its commands: list, replay"),
        ("cga-admin --admin-uri http://x apps list", "`cga-admin` has no option --admin-uri"),
        ("make runbooks", "make has no target runbooks"),
        ("scripts/deploy/backup.sh --output x.dump", "scripts/deploy/backup.sh does not exist"),
        ("bash scripts/deploy/deploy-prod.sh", "scripts/deploy/deploy-prod.sh does not exist"),
        ("cga-backup --all", "cga-backup is not a program of the workspace"),
        ("terraform apply", "unknown program terraform"),
        (
            "kubectl -n cga exec deploy/a -- cga-admin apps lst",
            "`cga-admin apps` has no command lst",
        ),
        ('export T="$(kubectl get secret s -o name | base65 -d)"', "unknown program base65"),
        ("sh -c 'cga-admin keys rotate'", "`cga-admin keys` has no command rotate"),
        ('echo "unclosed', "cannot read the command"),
    ],
)
def test_a_command_that_does_not_exist_fails(tree: Path, command: str, problem: str) -> None:
    add_runbook(tree, DRILL, operation(bash("cga-admin status", command)))
    found = problems_of(tree, DRILL)
    assert len(found) == 1, found
    assert found[0].startswith(f"{RUNBOOKS}/{DRILL}:11: {problem}")


def test_console_blocks_check_only_prompt_lines(tree: Path) -> None:
    console = "```console\n$ cga-admin apps lst\nterraform output\n```"
    add_runbook(tree, DRILL, operation(console))
    assert problems_of(tree, DRILL) == [
        f"{RUNBOOKS}/{DRILL}:10: `cga-admin apps` has no command lst"
        " (it has: create, delete, disable, enable, list, rotate-secret, show, update)"
    ]


def test_main_lists_the_problems_and_exits_1(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_runbook(tree, DRILL, operation(bash("make runbooks")))
    assert main(["--root", str(tree)]) == 1
    output = capsys.readouterr().out
    assert f"FAIL {RUNBOOKS}/{DRILL}:10: make has no target runbooks" in output
    assert output.rstrip().endswith("problem(s)")
