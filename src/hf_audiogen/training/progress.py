"""Progress reporting of the training scripts: a tqdm bar on the main process and a JSON-lines metrics log.

``accelerator.log`` needs a tracker package (tensorboard, wandb, trackio); none is required here, so metrics go to
``OUTPUT_DIR/logs/metrics.jsonl`` (one ``{"step": ..., name: value}`` object per line, easy to plot or diff) and,
if ``--report_to`` names a tracker, to that tracker too.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from accelerate import Accelerator
from tqdm.auto import tqdm


class RunningMeans:
    """Averages of scalar metrics since the last :meth:`pop` (what gets logged every ``logging_steps``)."""

    def __init__(self):
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def update(self, metrics: Mapping[str, float]) -> None:
        for name, value in metrics.items():
            self._sums[name] += float(value)
            self._counts[name] += 1

    def pop(self) -> dict[str, float]:
        means = {name: self._sums[name] / self._counts[name] for name in self._sums}
        self._sums.clear()
        self._counts.clear()
        return means


class TrainingProgress:
    """tqdm bar over optimizer steps plus the metrics log; silent on non-main processes.

    Example:

    ```python
    >>> from accelerate import Accelerator
    >>> from hf_audiogen.training.progress import TrainingProgress
    >>> progress = TrainingProgress(Accelerator(cpu=True), "/tmp/run", max_steps=10, initial_step=0, disable=True)
    >>> progress.log({"loss": 0.5}, step=1)
    >>> progress.close()
    ```
    """

    def __init__(
        self,
        accelerator: Accelerator,
        output_dir: str | Path,
        max_steps: int,
        initial_step: int = 0,
        description: str = "train",
        disable: bool = False,
    ):
        self.accelerator = accelerator
        self.is_main = accelerator.is_main_process
        self.log_path = Path(output_dir) / "logs" / "metrics.jsonl"
        if self.is_main:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.bar = tqdm(
            total=max_steps,
            initial=initial_step,
            desc=description,
            dynamic_ncols=True,
            disable=disable or not self.is_main,
        )
        self._start = time.monotonic()

    def step(self, n: int = 1) -> None:
        self.bar.update(n)

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        """Record ``metrics`` at ``step`` (main process writes; every process calls, as ``accelerator.log``)."""
        clean = {name: float(value) for name, value in metrics.items()}
        if self.accelerator.trackers:
            self.accelerator.log(clean, step=step)
        if not self.is_main:
            return
        record = {"step": step, "elapsed_s": round(time.monotonic() - self._start, 2), **clean}
        with open(self.log_path, "a") as f:
            f.write(
                json.dumps(
                    {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
                )
                + "\n"
            )
        self.bar.set_postfix({name: f"{value:.4g}" for name, value in clean.items()}, refresh=False)

    def write(self, message: str) -> None:
        """Print a line without breaking the bar (main process only)."""
        if self.is_main:
            self.bar.write(message)

    def close(self) -> None:
        self.bar.close()


def read_metrics(output_dir: str | Path) -> list[dict]:
    """All records of ``OUTPUT_DIR/logs/metrics.jsonl`` (empty list if there are none)."""
    path = Path(output_dir) / "logs" / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
