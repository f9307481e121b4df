"""The playbook's shape. Unknown keys are errors: a typo must never silently disable a rule."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, HttpUrl, field_validator, model_validator

from nightcrew.ai.config import RoutingPolicy, local_only_policy
from nightcrew.crm.mapping import CrmSettings
from nightcrew.guardrails.policy import GuardrailPolicy, HoursPolicy, PriceList, StrictModel

LanguageCode = Literal["es", "pt", "en"]
ChannelName = Literal["sms", "whatsapp", "email"]
StageKind = Literal["open", "booked", "cancelled", "no_show", "won", "lost", "nurture"]
MessagePurpose = Literal["outreach", "reply", "followup", "confirmation", "opt_out_confirmation"]
_CHANNEL_ORDER: tuple[ChannelName, ...] = ("whatsapp", "sms", "email")


class Business(StrictModel):
    """Who the agent speaks for."""

    name: str = Field(min_length=1)
    website: HttpUrl
    booking_url: HttpUrl
    default_language: LanguageCode = "es"
    signature: dict[LanguageCode, str] = Field(default_factory=dict)


class Segment(StrictModel):
    """A group of leads treated alike. ``min_probability`` maps a binary model's P(convert) to it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    min_probability: float | None = Field(default=None, ge=0.0, le=1.0)


class Stage(StrictModel):
    """A pipeline stage and what kind of progress it means."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: StageKind = "open"


class Team(StrictModel):
    """People an inbound conversation can be routed to."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    description: str = ""
    human: bool = True


class MessagePlanWhen(StrictModel):
    """Which leads a plan applies to; an omitted field matches anything."""

    segment: str | None = None
    stage: str | None = None
    language: LanguageCode | None = None
    intent: str | None = None


class Variant(StrictModel):
    """One version of a plan's copy, for A/B comparison; contacts are split by weight, deterministically."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    template: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    weight: int = Field(default=1, ge=1, le=1000)


class MessagePlan(StrictModel):
    """What to say to whom: a template (per language) chosen by segment x stage x language."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    purpose: MessagePurpose = "outreach"
    when: MessagePlanWhen = Field(default_factory=MessagePlanWhen)
    template: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    tone: str = ""
    call_to_action: str = ""
    # When present, the plan's copy comes from one of these instead of ``template``.
    variants: list[Variant] = Field(default_factory=list)

    def templates(self) -> list[str]:
        """Every template the plan may use."""
        return [v.template for v in self.variants] or [self.template]

    def specificity(self) -> int:
        """How many fields the plan pins down; the most specific matching plan wins."""
        when = self.when
        return sum(v is not None for v in (when.segment, when.stage, when.language, when.intent))


class Thresholds(StrictModel):
    """Confidence below these goes to a person instead of acting alone."""

    segment_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    intent_confidence: float = Field(default=0.45, ge=0.0, le=1.0)


ColdReason = Literal["no_response", "interested_not_booked", "booked_cancelled"]
COLD_REASONS: tuple[ColdReason, ...] = ("no_response", "interested_not_booked", "booked_cancelled")
StopCause = Literal["reply", "booking", "opt_out", "won_lost", "human"]
STOP_CAUSES: tuple[StopCause, ...] = ("reply", "booking", "opt_out", "won_lost", "human")


class FollowUpStep(StrictModel):
    """One touch of a re-engagement path."""

    # Hours after the lead went cold (first step) or after the previous touch.
    delay_hours: float = Field(default=0.0, ge=0)
    plan: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    # 'preferred' = the playbook's channel preference for the contact.
    channel: ChannelName | Literal["preferred"] = "preferred"
    # What ends the sequence before this touch (all of them unless narrowed).
    exit_on: list[StopCause] = Field(default_factory=lambda: list(STOP_CAUSES))


class FollowUpFinal(StrictModel):
    """What happens after the last touch when nothing came of it."""

    stage: str | None = None
    note: str = ""


class FollowUpPath(StrictModel):
    """The re-engagement sequence for one reason a lead went cold."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    max_touches: int = Field(default=3, ge=1, le=10)
    steps: list[FollowUpStep] = Field(min_length=1)
    final: FollowUpFinal = Field(default_factory=FollowUpFinal)


class FollowUpPolicy(StrictModel):
    """When a lead counts as gone cold, and the path for each reason."""

    wait_hours: float = Field(default=48.0, gt=0)
    # Intents that show interest: a lead who asked these and did not book went cold "interested, not booked".
    interest_intents: list[str] = Field(default_factory=lambda: ["pricing", "schedule", "program_info", "booking"])
    paths: dict[ColdReason, FollowUpPath] = Field(default_factory=dict)


class AssignmentRule(StrictModel):
    """Inbound conversations matching every given condition go to ``team``; the first matching rule wins."""

    intents: list[str] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)
    languages: list[LanguageCode] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)
    team: str
    # A person must see it (besides any automatic reply).
    handoff: bool = False


class Assignment(StrictModel):
    """Which team an inbound conversation goes to."""

    default_team: str
    rules: list[AssignmentRule] = Field(default_factory=list)
    # These intents always reach a person, whatever the rules say.
    always_human: list[str] = Field(default_factory=lambda: ["human", "complaint"])


class IntentActions(StrictModel):
    """What an inbound intent does to the pipeline, and whether it gets an automatic reply."""

    stage: str | None = None
    reply: bool = True


class LeadModelPolicy(StrictModel):
    """How the business trains and gates its lead model (the demo and `leads promote` defaults read this)."""

    target: str = "enrolled"
    positive_class: str | None = "yes"
    drop: list[str] = Field(default_factory=list)
    id_column: str | None = None
    min_accuracy: float | None = Field(default=None, ge=0.0, le=1.0)
    min_auc: float | None = Field(default=0.65, ge=0.5, le=1.0)
    # A rare outcome's calibrated model seldom says P > 0.5, so accuracy can only tie the base rate; with this
    # on, a tie within one standard error is accepted and log loss and AUC must still beat the trivial model.
    allow_accuracy_tie: bool = False


class AttributionPolicy(StrictModel):
    """An outcome (reply, booking, cancellation, opt-out) counts for the last message sent within this window."""

    window_hours: float = Field(default=72.0, gt=0)


class ReviewPolicy(StrictModel):
    """How long a person has to decide on a review item before it shows as overdue."""

    deadline_hours: float = Field(default=4.0, gt=0)


# The most tries of one send a playbook may ask for (the send step's retry ceiling): with the step's backoff
# (0.5 s doubling) the last of eight starts about a minute after the first.
MAX_SEND_ATTEMPTS = 8
UndeliveredAction = Literal["retry_once", "next_channel", "review", "surface"]


class DeliveryPolicy(StrictModel):
    """What is done when a message does not get through: at the send, and when the provider reports it later."""

    # Tries of one send while the channel refuses for a passing reason (429, unreachable); 5 = 1 + 4 retries.
    max_send_attempts: int = Field(default=5, ge=1, le=MAX_SEND_ATTEMPTS)
    # A status callback saying "undelivered" or "failed": surface (audit action and the message's error, the
    # default), review (a copy waits for a person to approve or reject), retry_once (a copy on the same channel,
    # not when the provider says the address will never work), next_channel (a copy on the next channel of
    # ``preference`` the contact has an address for). A copy that fails too is surfaced, never retried again.
    on_undelivered: UndeliveredAction = "surface"


class Channels(StrictModel):
    """Which channel reaches a contact: the first one the contact has an address for."""

    preference: list[ChannelName] = Field(default_factory=lambda: list(_CHANNEL_ORDER))
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)


class Playbook(StrictModel):
    """Everything nightcrew needs to know about one business."""

    version: int = 1
    business: Business
    languages: list[LanguageCode] = Field(min_length=1)
    segments: list[Segment] = Field(min_length=1)
    default_segment: str
    stages: list[Stage] = Field(min_length=1)
    initial_stage: str = "new"
    teams: list[Team] = Field(default_factory=list)
    hours: HoursPolicy = Field(default_factory=HoursPolicy)
    channels: Channels = Field(default_factory=Channels)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    followup: FollowUpPolicy = Field(default_factory=FollowUpPolicy)
    review: ReviewPolicy = Field(default_factory=ReviewPolicy)
    attribution: AttributionPolicy = Field(default_factory=AttributionPolicy)
    lead_model: LeadModelPolicy = Field(default_factory=LeadModelPolicy)
    routing: RoutingPolicy = Field(default_factory=local_only_policy)
    crm: CrmSettings = Field(default_factory=CrmSettings)
    assignment: Assignment | None = None
    intents: dict[str, IntentActions] = Field(default_factory=dict)
    message_plans: list[MessagePlan] = Field(min_length=1)
    facts: dict[LanguageCode, list[str]] = Field(default_factory=dict)
    # Words for intake field values in each language: labels.inquiry_type.coding_course.es = "programación".
    labels: dict[str, dict[str, dict[LanguageCode, str]]] = Field(default_factory=dict)
    # The only prices a message may state, and the guardrail checks' settings (see guardrails/policy.py).
    prices: PriceList = Field(default_factory=PriceList)
    guardrails: GuardrailPolicy = Field(default_factory=GuardrailPolicy)
    # Set by the loader: where templates/ lives. Not part of the YAML.
    base_dir: Path | None = Field(default=None, exclude=True)

    @field_validator("languages")
    @classmethod
    def _unique_languages(cls, value: list[LanguageCode]) -> list[LanguageCode]:
        if len(set(value)) != len(value):
            raise ValueError("languages must not repeat")
        return value

    @model_validator(mode="after")
    def _references_resolve(self) -> Playbook:
        segment_names = {s.name for s in self.segments}
        stage_names = {s.name for s in self.stages}
        if self.default_segment not in segment_names:
            raise ValueError(
                f"default_segment {self.default_segment!r} is not one of the segments {sorted(segment_names)}"
            )
        if self.initial_stage not in stage_names:
            raise ValueError(f"initial_stage {self.initial_stage!r} is not one of the stages {sorted(stage_names)}")
        if self.business.default_language not in self.languages:
            raise ValueError(f"business.default_language {self.business.default_language!r} is not in languages")
        for plan in self.message_plans:
            if plan.when.segment is not None and plan.when.segment not in segment_names:
                raise ValueError(f"message plan {plan.name!r}: unknown segment {plan.when.segment!r}")
            if plan.when.stage is not None and plan.when.stage not in stage_names:
                raise ValueError(f"message plan {plan.name!r}: unknown stage {plan.when.stage!r}")
        unknown_crm_stages = self.crm.unknown_stages(stage_names)
        if unknown_crm_stages:
            raise ValueError(f"crm: stage mappings name stages the playbook does not have: {unknown_crm_stages}")
        team_names = {t.name for t in self.teams}
        if self.assignment is not None:
            for team in [self.assignment.default_team, *(r.team for r in self.assignment.rules)]:
                if team not in team_names:
                    raise ValueError(f"assignment: unknown team {team!r}; teams: {sorted(team_names)}")
        for intent, action in self.intents.items():
            if action.stage is not None and action.stage not in stage_names:
                raise ValueError(f"intents.{intent}.stage: unknown stage {action.stage!r}")
        plan_names = {p.name for p in self.message_plans}
        for reason, path in self.followup.paths.items():
            for index, step in enumerate(path.steps):
                if step.plan not in plan_names:
                    raise ValueError(f"followup.paths.{reason}.steps.{index}.plan: unknown message plan {step.plan!r}")
            if path.final.stage is not None and path.final.stage not in stage_names:
                raise ValueError(f"followup.paths.{reason}.final.stage: unknown stage {path.final.stage!r}")
        names = [p.name for p in self.message_plans]
        if len(set(names)) != len(names):
            raise ValueError("message plan names must be unique")
        return self

    @model_validator(mode="after")
    def _guardrail_languages(self) -> Playbook:
        spoken: set[str] = set(self.languages)
        for product in self.prices.products:
            unknown = set(product.keywords) - spoken
            if unknown:
                raise ValueError(
                    f"prices: product {product.name!r} has keywords in {sorted(unknown)}, not in languages"
                )
        stray = self.guardrails.languages_used() - spoken
        if stray:
            raise ValueError(f"guardrails: phrases in {sorted(stray)}, which are not in languages")
        return self

    def plan(self, name: str) -> MessagePlan:
        """The message plan called ``name``."""
        for plan in self.message_plans:
            if plan.name == name:
                return plan
        raise KeyError(name)

    def segment(self, name: str) -> Segment:
        """The segment called ``name``."""
        for segment in self.segments:
            if segment.name == name:
                return segment
        raise KeyError(name)

    def stage(self, name: str) -> Stage | None:
        """The stage called ``name``, or None."""
        return next((s for s in self.stages if s.name == name), None)

    def stage_kind(self, name: str) -> str:
        """What a stage means ('open' for a stage the playbook does not list)."""
        stage = self.stage(name)
        return stage.kind if stage is not None else "open"

    def segment_for_probability(self, probability: float) -> str:
        """Map a binary model's P(convert) to the highest segment whose floor it reaches."""
        banded = sorted(
            (s for s in self.segments if s.min_probability is not None),
            key=lambda s: s.min_probability or 0.0,
            reverse=True,
        )
        for segment in banded:
            if probability >= (segment.min_probability or 0.0):
                return segment.name
        return self.default_segment

    def template_dir(self) -> Path:
        """The folder holding ``<language>/<template>.j2``."""
        if self.base_dir is None:
            raise ValueError("playbook was not loaded from a file; no template folder")
        return self.base_dir / "templates"
