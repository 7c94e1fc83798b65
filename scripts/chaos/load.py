"""The k6 ``load`` scenario kept running for as long as the faults take, every request of it
kept with its time and status (k6's CSV output), so its errors can be cut by phase."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from scripts.chaos.accounting import Answer
from scripts.load.run_k6 import k6_command
from scripts.load.stack import Targets

SCENARIO = "load"
STOP_GRACE = 60.0  # k6 lets each virtual user finish its iteration when interrupted


@dataclass(frozen=True)
class LoadShape:
    vus: int
    users: int
    ramp_seconds: int


def load_answers(csv_text: str) -> list[Answer]:
    """The scenario's requests in k6's CSV (timestamps in milliseconds); setup's sign-ins are
    not part of it. A partly written last line is left for the next read."""
    complete = csv_text[: csv_text.rfind("\n") + 1]
    return [
        Answer(
            int(row["timestamp"]) / 1000, int(row["status"] or 0), float(row["metric_value"]) > 0
        )
        for row in csv.DictReader(io.StringIO(complete))
        if row["metric_name"] == "http_req_failed" and row["scenario"] == SCENARIO
    ]


class LoadRun:
    def __init__(self, process: asyncio.subprocess.Process, csv_path: Path, log_path: Path) -> None:
        self.process = process
        self.csv_path = csv_path
        self.log_path = log_path

    @classmethod
    async def start(
        cls, targets: Targets, shape: LoadShape, record_dir: Path, longest_seconds: float
    ) -> LoadRun:
        """k6 against ``targets``; it stops by itself after ``longest_seconds`` at the latest."""
        csv_path = record_dir / "k6.csv"
        log_path = record_dir / "k6.log"
        command = k6_command(SCENARIO, record_dir / "k6-summary.json", ["--out", f"csv={csv_path}"])
        environment = {
            **os.environ,
            **targets.environment(),
            "LOAD_VUS": str(shape.vus),
            "LOAD_USERS": str(shape.users),
            "LOAD_RAMP": f"{shape.ramp_seconds}s",
            "LOAD_DURATION": f"{int(longest_seconds)}s",
            "K6_CSV_TIME_FORMAT": "unix_milli",
        }
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *command, env=environment, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        return cls(process, csv_path, log_path)

    async def first_request(self, within: float) -> float:
        """When the scenario's first request was answered (setup() signs the users in first)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"k6 ended before its load began; see {self.log_path}")
            if self.csv_path.exists() and (answers := load_answers(self.csv_path.read_text())):
                return min(answer.at for answer in answers)
            await asyncio.sleep(0.5)
        raise RuntimeError(f"k6 sent no load within {within:.0f} s; see {self.log_path}")

    async def stop(self) -> int:
        """Interrupt k6 as Ctrl-C would (it writes out its results); its exit status."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_GRACE)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode is not None  # noqa: S101 - waited for above
        return self.process.returncode

    def answers(self) -> list[Answer]:
        return load_answers(self.csv_path.read_text()) if self.csv_path.exists() else []
