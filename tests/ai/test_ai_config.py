"""The routing policy as playbook data: shapes, references and keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from nightcrew.ai.config import TASKS, EndpointConfig, RoutingPolicy, local_only_policy, resolve_api_key
from nightcrew.errors import ConfigurationError

EXAMPLE = """
tiers:
  fast: [{provider: local}]
  capable:
    - {provider: openai, base_url: "http://127.0.0.1:8080/v1", model: qwen2.5-7b-instruct,
       input_per_mtok: 0, output_per_mtok: 0, timeout_s: 60, max_concurrency: 2, name: llama-cpp}
    - {provider: openai, base_url: "https://api.openai.com/v1", model: gpt-4o-mini,
       api_key_env: OPENAI_API_KEY, input_per_mtok: 0.15, output_per_mtok: 0.60,
       timeout_s: 20, max_concurrency: 8}
  backup:
    - {provider: anthropic, model: claude-haiku-4-5, api_key_env: ANTHROPIC_API_KEY,
       input_per_mtok: 1.0, output_per_mtok: 5.0}
tasks:
  classify_lead: fast
  detect_language: fast
  classify_intent: {tier: fast, confidence_threshold: 0.6}
  compose_outreach: {tier: capable, fallback: backup, allow_template_fallback: true}
  compose_reply: {tier: capable, fallback: backup}
  compose_followup: {tier: capable, allow_template_fallback: true}
  summarise: capable
budgets:
  daily_usd_per_tenant: 5.0
  per_tenant: {aurora: 20.0}
  timezone: America/Mexico_City
breaker: {failure_threshold: 5, cooldown_s: 120}
retry: {base_delay_s: 0.5, max_delay_s: 10, max_retry_after_s: 30}
"""


def test_the_documented_example_validates() -> None:
    policy = RoutingPolicy.model_validate(yaml.safe_load(EXAMPLE))
    assert set(policy.tasks) == set(TASKS)
    assert policy.route_for("classify_lead").tier == "fast"
    assert policy.escalation_tier("classify_intent") == "capable"
    assert policy.escalation_tier("classify_lead") is None
    compose = policy.route_for("compose_outreach")
    assert (compose.fallback, compose.allow_template_fallback) == ("backup", True)
    capable = policy.tiers["capable"].endpoints
    assert [e.key for e in capable] == ["llama-cpp", "openai/gpt-4o-mini@api.openai.com"]
    assert policy.tiers["backup"].endpoints[0].resolved_base_url == "https://api.anthropic.com"
    assert policy.budgets.limit_for("aurora") == 20.0 and policy.budgets.limit_for("other") == 5.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tasks": {"summarise": "nope"}}, "'nope' is not one of the tiers"),
        ({"tasks": {"compose_reply": {"tier": "capable", "fallback": "capable"}}}, "same tier"),
        (
            {"tasks": {"compose_reply": {"tier": "capable", "confidence_threshold": 0.5}}},
            "only classification",
        ),
        ({"capable_tier": "premium"}, "capable_tier 'premium'"),
        ({"tasks": {"summarise": {"tier": "capable", "fallbak": "fast"}}}, "Extra inputs are not permitted"),
        ({"tiers": {"fast": [{"provider": "local"}], "capable": []}}, "at least one endpoint"),
        ({"budgets": {"timezone": "Mars/Olympus"}}, "unknown timezone"),
    ],
)
def test_mistakes_are_reported(change: dict[str, object], message: str) -> None:
    data = yaml.safe_load(EXAMPLE)
    for key, value in change.items():
        if key == "tasks":
            assert isinstance(value, dict)
            data["tasks"].update(value)
        else:
            data[key] = value
    with pytest.raises(ValidationError, match=message):
        RoutingPolicy.model_validate(data)


def test_every_task_needs_a_tier_unless_there_is_a_default() -> None:
    tiers = {"fast": [{"provider": "local"}], "capable": [{"provider": "local"}]}
    with pytest.raises(ValidationError, match="have no tier"):
        RoutingPolicy.model_validate({"tiers": tiers, "tasks": {"summarise": "fast"}})
    policy = RoutingPolicy.model_validate({"tiers": tiers, "tasks": {"summarise": "capable"}, "default_tier": "fast"})
    assert policy.route_for("compose_reply").tier == "fast"
    assert local_only_policy().tiers["capable"].is_local


def test_endpoint_shapes() -> None:
    with pytest.raises(ValidationError, match="a local endpoint takes no model"):
        EndpointConfig.model_validate({"provider": "local", "model": "x"})
    with pytest.raises(ValidationError, match="needs a model"):
        EndpointConfig.model_validate({"provider": "openai"})
    with pytest.raises(ValidationError, match="http"):
        EndpointConfig.model_validate({"provider": "openai", "model": "m", "base_url": "localhost:8080"})
    with pytest.raises(ValidationError, match="api_key_env"):
        EndpointConfig.model_validate({"provider": "openai", "model": "m", "api_key_env": "sk-live-abc"})


def test_api_keys_come_from_the_injected_environment_and_are_never_echoed() -> None:
    endpoint = EndpointConfig(provider="openai", model="m", api_key_env="MY_KEY")
    assert resolve_api_key(endpoint, {"MY_KEY": "secret-value"}) == "secret-value"
    assert resolve_api_key(EndpointConfig(provider="openai", model="m"), {}) is None
    with pytest.raises(ConfigurationError) as caught:
        resolve_api_key(endpoint, {"OTHER": "secret-value"})
    assert "MY_KEY" in caught.value.message and "secret-value" not in caught.value.message
    assert "secret" not in repr(endpoint)


def test_the_readme_routing_example_is_a_valid_policy_that_means_what_it_says() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Real model servers", 1)[1].split("\n### ", 1)[0]
    [block] = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    routing = RoutingPolicy.model_validate(yaml.safe_load(block)["routing"])
    capable = routing.tiers["capable"].endpoints
    assert capable[0].resolved_base_url == "http://127.0.0.1:8080/v1" and capable[-1].is_local  # llama-server first
    assert {e.provider for e in capable} == {"openai", "anthropic", "local"}
    assert routing.route_for("compose_followup").allow_template_fallback is False
    assert routing.waits_for("compose_followup") == capable[0]
    assert routing.route_for("classify_lead").tier == "fast"
