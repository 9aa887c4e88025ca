"""``choso match`` as a real process: exit codes, stdout and stderr are the contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from matching.instance import instance_json
from tests.matching.builders import demand, market, supply

CHOSO = [sys.executable, "-m", "choso.cli", "match"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHOSO, *map(str, args)], capture_output=True, text=True, timeout=300, check=False)


def test_generate_solve_check(tmp_path: Path) -> None:
    instance, result = tmp_path / "instance.json", tmp_path / "result.json"
    made = run("generate", "--supply", "60", "--demand", "50", "--seed", "4")
    assert made.returncode == 0, made.stderr
    instance.write_text(made.stdout)
    assert len(json.loads(made.stdout)["supply"]) == 60
    assert run("generate", "--supply", "60", "--demand", "50", "--seed", "4").stdout == made.stdout

    solved = run("solve", instance, "--out", result)
    assert solved.returncode == 0, solved.stderr
    assert solved.stdout == ""
    document = json.loads(result.read_text())
    assert set(document) == {"matches", "supply_prices", "demand_prices", "welfare_vnd"}

    checked = run("check", instance, result)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == str(document["welfare_vnd"])


def test_solve_prints_the_result_and_check_names_a_violation(tmp_path: Path) -> None:
    instance = tmp_path / "instance.json"
    instance.write_text(json.dumps(instance_json(market([supply("S1", 5, 100)], [demand("D1", 5, 300)]))))
    solved = run("solve", instance)
    assert solved.returncode == 0, solved.stderr
    document = json.loads(solved.stdout)
    assert document["welfare_vnd"] == 1000
    document["demand_prices"]["D1"] = 250  # no longer the seller's price + transport
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    checked = run("check", instance, tampered)
    assert checked.returncode == 1
    assert checked.stdout == ""
    assert checked.stderr.startswith('condition 2 violated: matches[0] (supply "S1" → demand "D1")')


def test_an_invalid_instance_exits_2_naming_post_and_field(tmp_path: Path) -> None:
    raw = instance_json(market([supply("S1", 5, 100)], [demand("D1", 5, 300)]))
    raw["demand"][0]["quantity"] = 0
    instance = tmp_path / "bad.json"
    instance.write_text(json.dumps(raw))
    solved = run("solve", instance)
    assert solved.returncode == 2
    assert (
        solved.stderr.strip() == 'invalid instance: demand "D1" field "quantity": must be at least 1, got 0'
    )
    instance.write_text("{not json")
    assert run("solve", instance).returncode == 2
    assert run("check", tmp_path / "missing.json", instance).returncode == 2


def test_a_malformed_result_fails_the_check(tmp_path: Path) -> None:
    instance, result = tmp_path / "instance.json", tmp_path / "result.json"
    instance.write_text(json.dumps(instance_json(market([supply("S1", 5, 100)], [demand("D1", 5, 300)]))))
    result.write_text(json.dumps({"matches": []}))
    checked = run("check", instance, result)
    assert checked.returncode == 1
    assert checked.stderr.startswith("malformed result:")


def test_warm_up_leaves_every_kernel_compiled_on_disk() -> None:
    """After ``warm-up`` a fresh process solves without compiling: every kernel is in the cache.
    (numba's dispatcher keeps one compiled signature per call; a cached one counts as loaded, a
    compiled one shows in ``stats``' cache misses.)"""
    warmed = run("warm-up")
    assert warmed.returncode == 0, warmed.stderr
    assert warmed.stdout.startswith("solver kernels ready in ")
    probe = (
        "from matching import kernels, simplex\n"
        "from matching.warm import warm_up\n"
        "warm_up()\n"
        "from numba.core.registry import CPUDispatcher\n"
        "found = [f for m in (kernels, simplex) for f in vars(m).values()]\n"
        "jitted = [f for f in found if isinstance(f, CPUDispatcher)]\n"
        "print(sum(sum(f.stats.cache_misses.values()) for f in jitted), len(jitted))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    misses, count = map(int, done.stdout.split())
    assert count >= 10
    assert misses == 0
