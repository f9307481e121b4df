"""The model router: task -> tier -> endpoint, with retries, breakers, fallbacks, budgets and a cascade."""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo

from opentelemetry.trace import StatusCode
from pydantic import BaseModel

from nightcrew.ai.breaker import BreakerSink, BreakerSnapshot, BreakerState, CircuitBreaker, Transition
from nightcrew.ai.config import CLASSIFICATION_TASKS, COMPOSE_TASKS, EndpointConfig, RoutingPolicy, TaskName
from nightcrew.ai.errors import (
    BudgetExceeded,
    InvalidModelOutput,
    ProviderError,
    RequestRejected,
    StructuredOutputError,
    TierUnavailable,
)
from nightcrew.ai.ledger import CallRecord, CostSink, Outcome, SpendReader
from nightcrew.ai.pricing import call_cost, counterfactual_cost, estimate_tokens
from nightcrew.ai.prompts import (
    ComposeBrief,
    Prompt,
    build_classification_prompt,
    build_compose_prompt,
    build_summary_prompt,
)
from nightcrew.ai.providers import build_provider
from nightcrew.ai.providers.base import Completion, CompletionRequest, ModelProvider
from nightcrew.ai.retry import Sleeper, retry_delay
from nightcrew.ai.structured import Classification, Draft, Summary, complete_structured
from nightcrew.clock import Clock
from nightcrew.errors import ConfigurationError
from nightcrew.observe.tracing import tracer

T = TypeVar("T", bound=BaseModel)
_log = logging.getLogger(__name__)
ProviderFactory = Callable[[EndpointConfig], ModelProvider]
LocalAnswer = Callable[[], T]


@dataclass(frozen=True)
class CallContext:
    """Who a call is for, and the id that groups its attempts in the ledger (e.g. workflow id + step)."""

    tenant: str | None = None
    contact: str | None = None
    call_id: str | None = None


@dataclass(frozen=True)
class Routed(Generic[T]):
    """A task's answer and how it was obtained."""

    task: TaskName
    value: T
    source: Literal["llm", "local"]
    tier: str
    endpoint: str
    model: str | None
    fell_back: bool
    reason: str
    call_id: str
    records: tuple[CallRecord, ...]

    @property
    def cost_usd(self) -> float:
        """What every attempt behind this answer cost."""
        return sum(r.cost_usd for r in self.records)

    @property
    def counterfactual_usd(self) -> float:
        """What the same attempts would have cost on the capable tier."""
        return sum(r.counterfactual_usd for r in self.records)


@dataclass(frozen=True)
class CascadeResult:
    """A classification: the cheap tier's answer and, when it was unsure, the capable tier's."""

    cheap: Routed[Classification]
    final: Routed[Classification]
    escalated: bool
    threshold: float | None
    records: tuple[CallRecord, ...]
    escalation_error: str | None = None

    @property
    def value(self) -> Classification:
        """The answer to act on."""
        return self.final.value

    @property
    def answers(self) -> tuple[Routed[Classification], ...]:
        """Every answer given, cheap first (both belong in the audit log)."""
        return (self.cheap, self.final) if self.escalated else (self.cheap,)


@dataclass(frozen=True)
class RoutePlan:
    """Where a task would go now, without calling anything."""

    task: TaskName
    tier: str
    fallback: str | None
    allow_template_fallback: bool
    escalate_to: str | None
    confidence_threshold: float | None
    local: bool
    available: bool


@dataclass(frozen=True)
class EndpointHealth:
    """An endpoint's breaker and load, for metrics and ``nightcrew providers``."""

    endpoint: str
    provider: str
    model: str | None
    tiers: tuple[str, ...]
    breaker: BreakerSnapshot | None
    in_flight: int
    max_concurrency: int
    simulated: bool


class _Endpoint:
    """A network endpoint's runtime: its adapter, breaker and concurrency limit."""

    def __init__(self, config: EndpointConfig, provider: ModelProvider, breaker: CircuitBreaker) -> None:
        self.config = config
        self.provider = provider
        self.breaker = breaker
        self.slots = threading.BoundedSemaphore(config.max_concurrency)
        self._lock = threading.Lock()
        self.in_flight = 0
        # Set from a 429's Retry-After: the provider asked us not to call before then.
        self.not_before: datetime | None = None

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


@dataclass
class _Call:
    """The state of one routed call: its id, who it is for, and the records written so far."""

    task: TaskName
    context: CallContext
    call_id: str
    records: list[CallRecord] = field(default_factory=list)


@dataclass
class _Failures:
    down: list[str] = field(default_factory=list)
    rejected: ProviderError | None = None
    invalid: StructuredOutputError | None = None
    budget: str | None = None
    # Tiers whose {provider: local} entry (after paid endpoints) was passed over: the task forbids templates.
    templates_refused: list[str] = field(default_factory=list)


class ModelRouter:
    """Routes each task to its tier's endpoints; every attempt goes to the CostSink."""

    def __init__(
        self,
        policy: RoutingPolicy,
        *,
        env: Mapping[str, str],
        clock: Clock,
        sink: CostSink | None = None,
        spend: SpendReader | None = None,
        sleeper: Sleeper = time.sleep,
        rng: random.Random | None = None,
        provider_factory: ProviderFactory | None = None,
        timer: Callable[[], float] = time.perf_counter,
        breakers: BreakerSink | None = None,
    ) -> None:
        if policy.budgets.enabled and spend is None:
            raise ConfigurationError("routing budgets are set but the router was given no spend reader")
        self.policy = policy
        self._clock = clock
        self._sink = sink
        self._spend = spend
        self._sleep = sleeper
        self._rng = rng or random.Random()
        self._timer = timer
        self._breakers = breakers
        factory = provider_factory or (lambda ep: build_provider(ep, env=env, clock=clock))
        self._endpoints: dict[str, _Endpoint] = {}
        self._tiers_of: dict[str, list[str]] = {}
        cooldown = timedelta(seconds=policy.breaker.cooldown_s)
        for tier_name, tier in policy.tiers.items():
            for config in tier.endpoints:
                self._tiers_of.setdefault(config.key, []).append(tier_name)
                if config.is_local or config.key in self._endpoints:
                    continue
                breaker = CircuitBreaker(
                    config.key,
                    clock,
                    failure_threshold=policy.breaker.failure_threshold,
                    cooldown=cooldown,
                    on_transition=self._transition_writer(config),
                )
                self._endpoints[config.key] = _Endpoint(config, factory(config), breaker)

    def _transition_writer(self, config: EndpointConfig) -> Transition | None:
        sink = self._breakers
        if sink is None:
            return None

        def write(snapshot: BreakerSnapshot) -> None:
            try:
                sink.transition(config.key, config.resolved_base_url, snapshot, self._clock.now())
            except Exception:  # a report of the breaker must never fail the call that moved it
                _log.warning("could not store the breaker transition of %s", config.key, exc_info=True)

        return write

    # public API

    def run(
        self,
        task: TaskName,
        prompt: Prompt,
        schema: type[T],
        *,
        local: LocalAnswer[T],
        validation: Mapping[str, Any] | None = None,
        context: CallContext | None = None,
        must_answer: bool = False,
    ) -> Routed[T]:
        """Answer ``task`` on its tier (then its fallback tier, then ``local`` if the playbook allows).

        ``must_answer``: for work nothing is sent on (a label, a note for the team), which cannot wait
        durably: when no allowed endpoint answers, ``local`` does, and the ledger says why.
        """
        route = self.policy.route_for(task)
        call = self._new_call(task, context)
        tiers = [route.tier] if route.fallback is None else [route.tier, route.fallback]
        return self._run_answering(
            call, prompt, schema, validation, local, tiers, route.allow_template_fallback, must_answer
        )

    def classify(
        self,
        task: TaskName,
        text: str,
        *,
        labels: Mapping[str, str],
        local: LocalAnswer[Classification],
        history: Sequence[str] = (),
        context: CallContext | None = None,
        must_answer: bool = False,
    ) -> CascadeResult:
        """Label ``text``; an answer below the confidence threshold is asked again on the escalation tier."""
        if task not in CLASSIFICATION_TASKS:
            raise ValueError(f"{task} is not a classification task")
        prompt = build_classification_prompt(task, text, labels, context=history)
        route = self.policy.route_for(task)
        call = self._new_call(task, context)
        validation = {"labels": set(labels)}
        tiers = [route.tier] if route.fallback is None else [route.tier, route.fallback]
        cheap = self._run_answering(
            call, prompt, Classification, validation, local, tiers, route.allow_template_fallback, must_answer
        )
        target = self.policy.escalation_tier(task)
        threshold = route.confidence_threshold
        if target is None or threshold is None or cheap.value.confidence >= threshold or cheap.tier == target:
            return CascadeResult(cheap=cheap, final=cheap, escalated=False, threshold=threshold, records=cheap.records)
        before = len(call.records)
        try:
            final = self._run(call, prompt, Classification, validation, None, [target], False, queue=False)
        except (TierUnavailable, InvalidModelOutput, RequestRejected, BudgetExceeded) as exc:
            # The cheap answer stands (the caller's thresholds send it to a person): not worth a wait.
            return CascadeResult(
                cheap=cheap,
                final=cheap,
                escalated=False,
                threshold=threshold,
                records=tuple(call.records),
                escalation_error=exc.message,
            )
        final = _with_records(final, tuple(call.records[before:]))
        return CascadeResult(cheap=cheap, final=final, escalated=True, threshold=threshold, records=tuple(call.records))

    def compose(
        self, brief: ComposeBrief, *, template: LocalAnswer[Draft], context: CallContext | None = None
    ) -> Routed[Draft]:
        """Draft a message grounded in the brief's approved facts (``template`` is the local answer)."""
        if brief.task not in COMPOSE_TASKS:
            raise ValueError(f"{brief.task} is not a compose task")
        prompt = build_compose_prompt(brief)
        return self.run(
            brief.task, prompt, Draft, local=template, validation=brief.validation_context(), context=context
        )

    def summarise(
        self,
        conversation: Sequence[str],
        *,
        language: str,
        local: LocalAnswer[Summary],
        context: CallContext | None = None,
        must_answer: bool = False,
    ) -> Routed[Summary]:
        """Summarise a conversation for the team."""
        prompt = build_summary_prompt(conversation, language=language)
        return self.run("summarise", prompt, Summary, local=local, context=context, must_answer=must_answer)

    def plan(self, task: TaskName) -> RoutePlan:
        """Where ``task`` would go now, and whether anything it may use is up (no probe is spent)."""
        route = self.policy.route_for(task)
        tiers = [route.tier] if route.fallback is None else [route.tier, route.fallback]
        available = route.allow_template_fallback or any(self.tier_available(t, templates=False) for t in tiers)
        return RoutePlan(
            task=task,
            tier=route.tier,
            fallback=route.fallback,
            allow_template_fallback=route.allow_template_fallback,
            escalate_to=self.policy.escalation_tier(task),
            confidence_threshold=route.confidence_threshold,
            local=self.policy.tiers[route.tier].is_local,
            available=available,
        )

    def tier_available(self, tier: str, *, templates: bool = True) -> bool:
        """Whether some endpoint of ``tier`` would take a call now (local ones always would).

        A local entry after paid endpoints is the template fallback: it counts only with ``templates``.
        """
        for position, config in enumerate(self.policy.tiers[tier].endpoints):
            if config.is_local:
                if position == 0 or templates:
                    return True
            elif self._endpoints[config.key].breaker.state is not BreakerState.OPEN:
                return True
        return False

    def next_retry_at(self, tiers: Sequence[str]) -> datetime:
        """The earliest instant one of ``tiers``' endpoints may be probed again."""
        now = self._clock.now()
        candidates: list[datetime] = []
        for tier in tiers:
            for position, config in enumerate(self.policy.tiers[tier].endpoints):
                if config.is_local:
                    if position == 0:
                        return now  # a local tier answers at once
                    continue  # the template fallback: not what a waiting task waits for
                runtime = self._endpoints[config.key]
                at = runtime.breaker.retry_at()
                # A closed breaker just failed us: give it one cool-down before asking again.
                at = at if at is not None else now + timedelta(seconds=self.policy.breaker.cooldown_s)
                if runtime.not_before is not None:
                    at = max(at, runtime.not_before)
                candidates.append(at)
        return max(now, min(candidates)) if candidates else now

    def health(self) -> list[EndpointHealth]:
        """Every endpoint with its breaker state and load."""
        rows: list[EndpointHealth] = []
        seen: set[str] = set()
        for tier in self.policy.tiers.values():
            for config in tier.endpoints:
                if config.key in seen:
                    continue
                seen.add(config.key)
                runtime = self._endpoints.get(config.key)
                rows.append(
                    EndpointHealth(
                        endpoint=config.key,
                        provider=config.provider,
                        model=config.model,
                        tiers=tuple(self._tiers_of[config.key]),
                        breaker=runtime.breaker.snapshot() if runtime else None,
                        in_flight=runtime.in_flight if runtime else 0,
                        max_concurrency=config.max_concurrency,
                        simulated=config.simulated,
                    )
                )
        return rows

    def close(self) -> None:
        """Close every provider's connections."""
        for runtime in self._endpoints.values():
            runtime.provider.close()

    # routing

    def _new_call(self, task: TaskName, context: CallContext | None) -> _Call:
        context = context or CallContext()
        return _Call(task=task, context=context, call_id=context.call_id or uuid.uuid4().hex)

    def _run_answering(
        self,
        call: _Call,
        prompt: Prompt,
        schema: type[T],
        validation: Mapping[str, Any] | None,
        local: LocalAnswer[T],
        tiers: Sequence[str],
        allow_template_fallback: bool,
        must_answer: bool,
    ) -> Routed[T]:
        if not must_answer:
            return self._run(call, prompt, schema, validation, local, tiers, allow_template_fallback)
        try:
            return self._run(call, prompt, schema, validation, local, tiers, allow_template_fallback, queue=False)
        except (TierUnavailable, InvalidModelOutput, RequestRejected, BudgetExceeded) as exc:
            request = dataclasses.replace(prompt.request(), call_id=call.call_id)
            reason = f"fallback to local: {exc.message} (nothing is sent on this answer, so it does not wait)"
            return self._answer_locally(call, "local", request, local, False, reason)

    def _run(
        self,
        call: _Call,
        prompt: Prompt,
        schema: type[T],
        validation: Mapping[str, Any] | None,
        local: LocalAnswer[T] | None,
        tiers: Sequence[str],
        allow_template_fallback: bool,
        *,
        queue: bool = True,
    ) -> Routed[T]:
        request = dataclasses.replace(prompt.request(), call_id=call.call_id)
        failures = _Failures()
        first_choice = True
        budget_note = self._budget_exceeded(call.context.tenant)
        budget_goes_local = self.policy.budgets.on_exceeded == "template"
        for tier_name in tiers:
            for position, config in enumerate(self.policy.tiers[tier_name].endpoints):
                if config.is_local:
                    if local is None:
                        continue
                    if position == 0:
                        # A local tier: nightcrew's own models are what the playbook routes this task (or its
                        # named fallback tier) to.
                        reason = "routed" if first_choice else "fallback to local: " + _summary(failures)
                        return self._answer_locally(call, tier_name, request, local, first_choice, reason)
                    # After paid endpoints, a local entry is the template fallback: only where the task allows it.
                    if allow_template_fallback or (failures.budget is not None and budget_goes_local):
                        return self._answer_locally(
                            call, tier_name, request, local, False, "fallback to local: " + _summary(failures)
                        )
                    failures.templates_refused.append(tier_name)
                    continue
                if budget_note is not None and (config.input_per_mtok > 0 or config.output_per_mtok > 0):
                    failures.budget = budget_note
                    first_choice = False
                    continue
                runtime = self._endpoints[config.key]
                try:
                    value, completion, latency = self._ask(call, runtime, tier_name, request, schema, validation)
                except ProviderError as exc:
                    if exc.kind == "rejected":
                        failures.rejected = exc
                    else:
                        failures.down.append(exc.message)
                    first_choice = False
                    continue
                except StructuredOutputError as exc:
                    failures.invalid = exc
                    first_choice = False
                    continue
                outcome: Outcome = "ok" if first_choice else "fell_back"
                self._write(call, tier_name, config, outcome, completion=completion, latency_ms=latency, error=None)
                reason = "routed" if first_choice else f"fallback to {config.key}: " + _summary(failures)
                return Routed(
                    task=call.task,
                    value=value,
                    source="llm",
                    tier=tier_name,
                    endpoint=config.key,
                    model=completion.model,
                    fell_back=not first_choice,
                    reason=reason,
                    call_id=call.call_id,
                    records=tuple(call.records),
                )
        if local is not None and (allow_template_fallback or (failures.budget is not None and budget_goes_local)):
            return self._answer_locally(
                call, "local", request, local, False, "fallback to local: " + _summary(failures)
            )
        return self._give_up(call, tiers, failures, queue=queue)

    def _give_up(self, call: _Call, tiers: Sequence[str], failures: _Failures, *, queue: bool) -> Routed[Any]:
        summary = _summary(failures)
        if failures.down:
            retry_at = self.next_retry_at(tiers)
            first = self.policy.tiers[tiers[0]].endpoints[0]
            message = (
                f"{call.task}: no endpoint of tier(s) {', '.join(tiers)} is up ({summary}); "
                f"retry at {retry_at.isoformat()}"
            )
            if queue:  # the caller waits durably and calls again at retry_at
                self._write(call, tiers[0], first, "queued", completion=None, latency_ms=0.0, error=message)
            raise TierUnavailable(message, task=call.task, tiers=tiers, retry_at=retry_at, records=call.records)
        if failures.invalid is not None:
            raise InvalidModelOutput(
                f"{call.task}: the answer stayed invalid after one correction: {failures.invalid.message}",
                task=call.task,
                raw=failures.invalid.raw,
                error=failures.invalid.message,
                records=call.records,
            )
        if failures.rejected is not None:
            raise RequestRejected(
                f"{call.task}: the request was rejected: {failures.rejected.message}",
                task=call.task,
                records=call.records,
            )
        if failures.budget is not None:
            raise BudgetExceeded(
                f"{call.task}: {failures.budget}",
                task=call.task,
                retry_at=self._next_budget_day(),
                records=call.records,
            )
        raise ConfigurationError(f"{call.task}: tier(s) {', '.join(tiers)} have no endpoint usable here")

    def _ask(
        self,
        call: _Call,
        runtime: _Endpoint,
        tier: str,
        request: CompletionRequest,
        schema: type[T],
        validation: Mapping[str, Any] | None,
    ) -> tuple[T, Completion, float]:
        """Ask one endpoint (with retries) and validate; one corrective retry on invalid output."""
        latest: dict[str, Any] = {}

        def attempt(req: CompletionRequest) -> Completion:
            completion, latency = self._attempt(call, runtime, tier, req)
            latest["completion"], latest["latency"] = completion, latency
            return completion

        def on_invalid(completion: Completion, error: StructuredOutputError) -> None:
            self._write(
                call,
                tier,
                runtime.config,
                "retried",
                completion=completion,
                latency_ms=latest["latency"],
                error=f"invalid output: {error.message}",
            )

        try:
            value, completion = complete_structured(attempt, request, schema, context=validation, on_invalid=on_invalid)
        except StructuredOutputError as exc:
            self._write(
                call,
                tier,
                runtime.config,
                "failed",
                completion=latest["completion"],
                latency_ms=latest["latency"],
                error=f"invalid output: {exc.message}",
            )
            raise
        return value, completion, latest["latency"]

    def _attempt(
        self, call: _Call, runtime: _Endpoint, tier: str, request: CompletionRequest
    ) -> tuple[Completion, float]:
        """One endpoint, up to ``max_retries`` retries on retryable errors while its circuit stays closed."""
        config = runtime.config
        not_before = runtime.not_before
        if not_before is not None and self._clock.now() < not_before:
            raise ProviderError(
                f"{config.key}: rate limited until {not_before.isoformat()}",
                endpoint=config.key,
                kind="rate_limited",
            )
        for retry in range(config.max_retries + 1):
            if not runtime.breaker.allow():
                raise ProviderError(f"{config.key}: circuit open", endpoint=config.key, kind="connection")
            if not runtime.slots.acquire(timeout=config.timeout_s):
                runtime.breaker.release()
                error = ProviderError(
                    f"{config.key}: all {config.max_concurrency} slots busy",
                    endpoint=config.key,
                    kind="saturated",
                )
                self._write(call, tier, config, "failed", completion=None, latency_ms=0.0, error=error.message)
                raise error
            runtime.enter()
            started = self._timer()
            # What the span may carry: where the call went and how it ended, never the prompt or a key.
            with tracer().start_as_current_span(
                "model.call",
                attributes={
                    "model.provider": config.provider,
                    "model.name": config.model or "",
                    "model.endpoint": config.key,
                    "model.task": call.task,
                    "model.tier": tier,
                    "model.attempt": retry + 1,
                },
            ) as span:
                try:
                    completion = runtime.provider.complete(request)
                except ProviderError as exc:
                    error = exc
                    span.set_attribute("model.outcome", exc.kind)
                    span.set_status(StatusCode.ERROR, exc.kind)
                else:
                    span.set_attributes(
                        {
                            "model.outcome": "ok",
                            "model.name": completion.model,
                            "model.input_tokens": completion.input_tokens,
                            "model.output_tokens": completion.output_tokens,
                        }
                    )
                    runtime.breaker.record_success()
                    runtime.not_before = None
                    measured = (self._timer() - started) * 1000.0
                    latency = completion.reported_latency_ms if completion.reported_latency_ms is not None else measured
                    return completion, latency
                finally:
                    runtime.leave()
                    runtime.slots.release()
            latency = (self._timer() - started) * 1000.0
            if error.retry_after_s is not None:
                runtime.not_before = self._clock.now() + timedelta(seconds=error.retry_after_s)
            if error.endpoint_fault:
                runtime.breaker.record_failure()
            elif error.kind == "rejected":
                runtime.breaker.record_success()  # it answered: the endpoint is up, our request is wrong
            else:
                runtime.breaker.release()
            delay = None
            if retry < config.max_retries and runtime.breaker.state is BreakerState.CLOSED:
                delay = retry_delay(error, retry, self.policy.retry, self._rng)
            outcome: Outcome = "retried" if delay is not None else "failed"
            self._write(call, tier, config, outcome, completion=None, latency_ms=latency, error=error.message)
            if delay is None:
                raise error
            self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def _answer_locally(
        self,
        call: _Call,
        tier: str,
        request: CompletionRequest,
        local: LocalAnswer[T],
        first_choice: bool,
        reason: str,
    ) -> Routed[T]:
        started = self._timer()
        value = local()
        latency = (self._timer() - started) * 1000.0
        counterfactual = counterfactual_cost(
            self.policy, estimate_tokens(request.text()), estimate_tokens(value.model_dump_json())
        )
        outcome: Outcome = "ok" if first_choice else "fell_back"
        record = CallRecord(
            call_id=call.call_id,
            attempt=len(call.records) + 1,
            at=self._clock.now(),
            task=call.task,
            tier=tier,
            endpoint="local",
            provider="local",
            model=None,
            tenant=call.context.tenant,
            contact=call.context.contact,
            outcome=outcome,
            counterfactual_usd=counterfactual,
            counterfactual_estimated=True,
            latency_ms=latency,
            error=None if first_choice else reason,
        )
        self._emit(call, record)
        return Routed(
            task=call.task,
            value=value,
            source="local",
            tier=tier,
            endpoint="local",
            model=None,
            fell_back=not first_choice,
            reason=reason,
            call_id=call.call_id,
            records=tuple(call.records),
        )

    def _write(
        self,
        call: _Call,
        tier: str,
        config: EndpointConfig,
        outcome: Outcome,
        *,
        completion: Completion | None,
        latency_ms: float,
        error: str | None,
    ) -> None:
        tokens_in = completion.input_tokens if completion else 0
        tokens_out = completion.output_tokens if completion else 0
        record = CallRecord(
            call_id=call.call_id,
            attempt=len(call.records) + 1,
            at=self._clock.now(),
            task=call.task,
            tier=tier,
            endpoint=config.key,
            provider=config.provider,
            model=completion.model if completion else config.model,
            tenant=call.context.tenant,
            contact=call.context.contact,
            outcome=outcome,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=call_cost(config, tokens_in, tokens_out),
            counterfactual_usd=counterfactual_cost(self.policy, tokens_in, tokens_out),
            latency_ms=max(0.0, latency_ms),
            simulated=config.simulated,
            error=error,
        )
        self._emit(call, record)

    def _emit(self, call: _Call, record: CallRecord) -> None:
        call.records.append(record)
        if self._sink is not None:
            self._sink.record(record)

    def _budget_day_start(self) -> datetime:
        local_now = self._clock.now().astimezone(ZoneInfo(self.policy.budgets.timezone))
        return local_now.replace(hour=0, minute=0, second=0, microsecond=0)

    def _next_budget_day(self) -> datetime:
        start = self._budget_day_start()
        # Add a calendar day in local time (not 24 h) so DST changes do not shift midnight.
        return datetime.combine(start.date() + timedelta(days=1), start.timetz().replace(tzinfo=None), start.tzinfo)

    def _budget_exceeded(self, tenant: str | None) -> str | None:
        """Why paid calls are off for ``tenant`` today, or None while within budget."""
        budgets = self.policy.budgets
        if tenant is None or self._spend is None:
            return None
        limit = budgets.limit_for(tenant)
        if limit is None:
            return None
        day_start = self._budget_day_start()
        spent = self._spend.spent_usd(tenant, day_start)
        if spent < limit:
            return None
        return f"daily budget exceeded for tenant {tenant}: spent {spent:.4f} of {limit:.4f} USD"


def _summary(failures: _Failures) -> str:
    parts = list(failures.down)
    if failures.rejected is not None:
        parts.append(failures.rejected.message)
    if failures.invalid is not None:
        parts.append(f"invalid output: {failures.invalid.message}")
    if failures.budget is not None:
        parts.append(failures.budget)
    if failures.templates_refused:
        tiers = ", ".join(dict.fromkeys(failures.templates_refused))
        parts.append(f"the local template fallback in tier {tiers} is not allowed for this task")
    return "; ".join(parts) or "no endpoint answered"


def _with_records(routed: Routed[T], records: tuple[CallRecord, ...]) -> Routed[T]:
    return Routed(
        task=routed.task,
        value=routed.value,
        source=routed.source,
        tier=routed.tier,
        endpoint=routed.endpoint,
        model=routed.model,
        fell_back=routed.fell_back,
        reason=routed.reason,
        call_id=routed.call_id,
        records=records,
    )
