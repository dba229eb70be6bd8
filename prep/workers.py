"""The worker processes of `make data`: an ordinary ProcessPoolExecutor over the per-article work (reading
and cleaning, chunking, MinHash signatures, rows). Each process loads the base model's tokenizer once, as its
initializer (prep/tokens.py), so nothing depends on what the main process held when the processes started
or on how they are started (the platform's default: fork on Linux, spawn elsewhere; a script that calls
build() must then guard its entry point with `if __name__ == "__main__"`). `map` keeps the input order, so
the outputs do not depend on how many processes there are.
"""
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from prep import tokens

TASKS_PER_PROCESS = 16   # items go out in batches: fewer round trips, still even work across processes


class Workers:
    def __init__(self, processes: int, model_dir: Path):
        self.processes = processes or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(self.processes, initializer=tokens.load, initargs=(str(model_dir),))

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(cancel_futures=True)

    def map(self, desc: str, job: Callable, *columns: list) -> list:
        """[job(*args) for args in zip(*columns)], computed in the worker processes, in order, with a
        progress bar labelled `desc`."""
        items = len(columns[0])
        batch = max(1, items // (self.processes * TASKS_PER_PROCESS))
        return list(tqdm(self._pool.map(job, *columns, chunksize=batch), total=items, desc=desc, leave=False))
