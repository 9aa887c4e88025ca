"""``choso serve`` with one extra job, for the job-delivery test (tests/test_hardening_jobs.py).

Run as ``python -m tests.slow_job_serve serve --port N``: the real CLI and app, plus the job
``tests.slow_job(marker=path)``, which appends "start" to the marker file, then — on its first
run only — sleeps long enough to be killed, and finally appends "done".
"""

from __future__ import annotations

import time
from pathlib import Path

from choso.jobs import celery_app


@celery_app.task(name="tests.slow_job")
def slow_job(marker: str) -> None:
    path = Path(marker)
    earlier_runs = path.read_text().count("start") if path.exists() else 0
    with path.open("a") as file:
        file.write("start\n")
    if earlier_runs == 0:
        time.sleep(600)  # killed here
    with path.open("a") as file:
        file.write("done\n")


if __name__ == "__main__":
    from choso.cli import main

    main()
