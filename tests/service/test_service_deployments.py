"""The deployment declarations and launch helpers, without a server (fast)."""

from __future__ import annotations

import pytest
from service_helpers import tiny_water

from alforge import CampaignSpec
from alforge.errors import AlforgeError, SpecError
from alforge.flows.deploy import GENERIC_DEPLOYMENT, WORK_POOLS, build_deployments, check_cron, describe
from alforge.flows.launch import DEFAULT_DEPLOYMENT, api_url


def spec(name: str, **top: object) -> CampaignSpec:
    return CampaignSpec.from_dict(tiny_water(name, **top))


def test_generic_deployment_and_one_per_scheduled_spec() -> None:
    deployments = build_deployments([spec("hourly", schedule="0 * * * *"), spec("unscheduled")])
    assert [d.name for d in deployments] == ["alforge", "hourly"]
    generic, hourly = deployments
    assert generic.entrypoint == "alforge.flows.campaign.campaign"  # importable wherever alforge is installed
    assert not generic.schedules
    assert generic.parameters == {}
    assert [s.schedule.cron for s in hourly.schedules] == ["0 * * * *"]
    assert hourly.parameters == {"name": "hourly"}
    assert hourly.concurrency_limit == 1
    assert describe(hourly) == "campaign/hourly (cron 0 * * * *)"
    assert generic.work_pool_name is None


def test_command_line_cron_overrides_every_spec() -> None:
    deployments = build_deployments([spec("a", schedule="0 * * * *"), spec("b")], cron="*/5 * * * *")
    assert {d.name: [s.schedule.cron for s in d.schedules] for d in deployments[1:]} == {
        "a": ["*/5 * * * *"], "b": ["*/5 * * * *"],
    }


def test_bad_cron_is_one_line_naming_where_it_came_from() -> None:
    with pytest.raises(SpecError, match=r"spec 'bad': schedule: 'every hour' is not a cron schedule") as info:
        build_deployments([spec("bad", schedule="every hour")])
    assert "\n" not in str(info.value)
    with pytest.raises(SpecError, match=r"--cron: '61 \* \* \* \*'"):
        check_cron("61 * * * *", "--cron")


def test_work_pool_deployments_are_named_after_the_pool() -> None:
    gpu = WORK_POOLS["gpu"].name
    deployments = build_deployments([spec("nightly", schedule="0 2 * * *")], work_pool=gpu,
                                    job_variables={"env": {"CUDA_VISIBLE_DEVICES": "0"}})
    assert [d.name for d in deployments] == [gpu, "nightly"]
    assert {d.work_pool_name for d in deployments} == {gpu}
    assert deployments[0].job_variables == {"env": {"CUDA_VISIBLE_DEVICES": "0"}}
    assert {p.create_command for p in WORK_POOLS.values()} == {
        "prefect work-pool create alforge-cpu --type process",
        "prefect work-pool create alforge-gpu --type process",
    }


def test_launch_targets_the_declared_deployment_and_normalises_urls() -> None:
    assert DEFAULT_DEPLOYMENT == GENERIC_DEPLOYMENT
    assert api_url("http://host:4200") == "http://host:4200/api"
    assert api_url("http://host:4200/api/") == "http://host:4200/api"
    with pytest.raises(AlforgeError, match="not an http"):
        api_url("host:4200")
