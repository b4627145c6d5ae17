from flows.serve import build_deployment, deployment_spec


def test_nightly_deployment_is_scheduled_at_two_moscow_time():
    dep = build_deployment(deployment_spec())
    [schedule] = dep.schedules
    assert schedule.schedule.cron == "0 2 * * *"
    assert schedule.schedule.timezone == "Europe/Moscow"
    assert dep.name == "nightly" and dep.parameters["lang"] == "ru"


def test_schedule_and_paths_can_be_overridden():
    dep = build_deployment(deployment_spec(), {"extracts": "/srv/night"}, cron="30 3 * * *",
                           timezone="Asia/Yekaterinburg")
    [schedule] = dep.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 3 * * *", "Asia/Yekaterinburg")
    assert dep.parameters["extracts"] == "/srv/night"


def test_serve_refuses_a_bad_threshold_before_anything_else(monkeypatch):
    from typer.testing import CliRunner

    from flows.cli import app

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    result = CliRunner().invoke(app, ["serve", "--mo-shrunk", "1.5"])
    assert result.exit_code == 2 and "--mo-shrunk" in result.output


def test_serve_passes_the_thresholds_to_the_deployment(monkeypatch):
    from typer.testing import CliRunner

    from flows import serve as serve_mod
    from flows.cli import app

    seen = {}
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:1/api")
    monkeypatch.setattr(serve_mod, "serve", lambda params, cron, tz: seen.update(params))
    result = CliRunner().invoke(app, ["serve", "--volume-drop", "0.5", "--gx-crosscheck"])
    assert result.exit_code == 0, result.output
    assert seen == {"volume_drop": 0.5, "gx_crosscheck": True}
    deployment = build_deployment(deployment_spec(), seen)
    assert deployment.parameters["volume_drop"] == 0.5
