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
