import hashlib
import json
from pathlib import Path

import pytest

from cli import main
from csms.grid.check import check_schedule
from csms.grid.instance import read_instance, read_schedule


@pytest.mark.parametrize("solver", ["kernel", "lp"])
def test_plan_gen_then_plan_writes_a_checked_schedule(
    tmp_path: Path, solver: str, capsys: pytest.CaptureFixture[str]
) -> None:
    instance_path = tmp_path / "instance.json"
    schedule_path = tmp_path / "schedule.json"
    assert (
        main(
            [
                "plan-gen",
                "--sessions",
                "40",
                "--nodes",
                "3",
                "--slots",
                "48",
                "--v2g-share",
                "0.3",
                "--seed",
                "2",
                "-o",
                str(instance_path),
            ]
        )
        == 0
    )
    code = main(["plan", str(instance_path), "--solver", solver, "--out", str(schedule_path)])
    assert code == 0
    out = capsys.readouterr().out
    for figure in ("energy requested", "energy exported", "objective", "violations", "feeder-0"):
        assert figure in out
    instance = read_instance(instance_path)
    schedule = read_schedule(schedule_path)
    assert schedule.solver == solver
    assert schedule.instance_sha256 == hashlib.sha256(instance_path.read_bytes()).hexdigest()
    assert check_schedule(instance, schedule).ok
    assert len(instance.sessions) == 40
    assert instance.slots == 48


def test_plan_names_the_bad_field_of_an_invalid_instance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    assert main(["plan-gen", "--sessions", "5", "--nodes", "1", "-o", str(path)]) == 0
    doc = json.loads(path.read_text())
    doc["sessions"][2]["target_wh"] = doc["sessions"][2]["battery_wh"] + 1
    path.write_text(json.dumps(doc))
    assert main(["plan", str(path)]) == 1
    assert "sessions[2].target_wh: above battery_wh" in capsys.readouterr().out


def test_plan_gen_rejects_a_share_outside_zero_to_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan-gen", "--v2g-share", "1.5", "-o", str(tmp_path / "x.json")]) == 1
    assert "--v2g-share must lie in [0, 1]" in capsys.readouterr().out
