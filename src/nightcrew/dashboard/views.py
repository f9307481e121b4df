"""The operator dashboard: server-rendered pages behind a login with the API key, mounted under /dashboard."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from nightcrew.api.auth import RateLimiter, authenticate
from nightcrew.bootstrap import Container, TenantRef
from nightcrew.crm.repository import ContactRepository
from nightcrew.dashboard import auth, charts
from nightcrew.dashboard.daycache import SettledDays
from nightcrew.dashboard.repository import DashboardRepository, tier_totals
from nightcrew.dashboard.stats import Rate, rate
from nightcrew.db import transaction
from nightcrew.errors import NightcrewError, NotFound, RateLimited, Unauthorized
from nightcrew.observe.health import stored_breakers, worst_breaker
from nightcrew.observe.service import AuditQueries
from nightcrew.review.repository import ReviewRepository
from nightcrew.review.service import item_dict
from nightcrew.workflows.review import approve_item, reject_item

T = TypeVar("T")
HERE = Path(__file__).parent
PAGE_SIZE = 50
WINDOW_DAYS = 30
SECURITY_HEADERS = {
    # No script at all: the pages are plain HTML forms with inline SVG.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
OUTCOME_DIMENSIONS = ("template", "variant", "segment", "language", "path")
# What an approval did to the item's message, in the operator's words.
MESSAGE_FATE = {
    "pending": "Its message is on its way.",
    "deferred": "Its message waits for the contact's allowed hours.",
}


@dataclass(frozen=True)
class ModelRow:
    """One trained model as the models page shows it."""

    kind: str  # "lead" (segment model) or "intent"
    version: str
    created_at: datetime
    active: bool
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class OutcomeRow:
    """Attributed outcomes of the messages sharing one value of one dimension (e.g. template 'first_touch')."""

    dimension: str  # one of OUTCOME_DIMENSIONS
    value: str
    sent: int
    replied: int
    booked: int
    opted_out: int


ModelsProvider = Callable[[Container, TenantRef], Sequence[ModelRow]]
OutcomesProvider = Callable[[Container, TenantRef, datetime], Sequence[OutcomeRow]]


_MODEL_METRICS = (
    "base_rate",
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "roc_auc",
    "log_loss",
    "brier",
    "lift_at_10pct",
)


def registered_models(container: Container, tenant: TenantRef) -> list[ModelRow]:
    """The tenant's lead and intent models from the registry, with held-out metrics when measured."""
    from nightcrew.intelligence.repository import ModelVersionRepository

    with transaction(container.sessions) as session:
        rows = ModelVersionRepository(session, tenant.id).all()
        models = []
        for row in rows:
            metrics = row.holdout_metrics or row.metrics or {}
            numbers = {k: float(metrics[k]) for k in _MODEL_METRICS if isinstance(metrics.get(k), int | float)}
            models.append(ModelRow(row.kind, f"v{row.version}", row.created_at, row.active, numbers))
    return models


def attributed_outcomes(container: Container, tenant: TenantRef, since: datetime) -> list[OutcomeRow]:
    """Outcomes linked to the message before them, per value of each dimension, since ``since``."""
    from nightcrew.observe.repository import OutcomeRepository

    out: list[OutcomeRow] = []
    with transaction(container.sessions) as session:
        tables = OutcomeRepository(session, tenant.id).tables(OUTCOME_DIMENSIONS, since)
        for dimension in OUTCOME_DIMENSIONS:
            for row in tables[dimension]:
                sent = int(row.get("sent", 0))
                # An outcome in the window can answer a message sent just before it: never count more than sent.
                capped = {k: min(sent, int(row.get(k, 0))) for k in ("replied", "booked", "opted_out")}
                out.append(OutcomeRow(dimension, str(row["key"]), sent, **capped))
    return out


def window_start(now: datetime, days: int = WINDOW_DAYS) -> datetime:
    """Midnight UTC starting the ``days``-day window that ends with today."""
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    return datetime.combine(first, time(0), tzinfo=UTC)


def _when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _usd(value: float | None) -> str:
    if not value:
        return "$0"
    return f"${value:,.4f}" if abs(value) < 0.01 else f"${value:,.2f}"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["usd"] = _usd
    env.filters["pretty"] = _pretty
    env.filters["pct"] = lambda v: "—" if v is None else f"{v:.1%}"
    return env


def _safe_next(value: str | None) -> str:
    """Where to go after login: only a dashboard path, never another site."""
    if not value or "//" in value or "\\" in value:
        return "/dashboard"
    return value if value == "/dashboard" or value.startswith(("/dashboard/", "/dashboard?")) else "/dashboard"


def _last_activity(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return max(present) if present else None


@dataclass(frozen=True)
class _Review:
    """A decision the review form asked for, and how it went when it was refused."""

    item_id: int
    message: str
    details: list[str]
    text: str | None = None


def create_dashboard_router(
    *, models: ModelsProvider = registered_models, outcomes: OutcomesProvider = attributed_outcomes
) -> APIRouter:
    """The dashboard's routes; ``models`` and ``outcomes`` supply the two pages other modules compute."""
    router = APIRouter(prefix="/dashboard", include_in_schema=False)
    templates = _templates()
    stylesheet = (HERE / "static" / "dashboard.css").read_bytes()
    css_version = hashlib.sha256(stylesheet).hexdigest()[:12]
    # Without an admin key there is nothing stable to derive from: sessions last as long as this process.
    process_key = secrets.token_bytes(32)
    # The overview's figures for days that are over, so a visit re-reads only today's rows.
    history = SettledDays()

    def container_of(request: Request) -> Container:
        container: Container = request.app.state.container
        return container

    def key_of(container: Container) -> bytes:
        admin = container.settings.api_key
        return auth.signing_key(admin.get_secret_value() if admin else None, process_key)

    def session_of(request: Request) -> dict[str, Any] | None:
        return auth.unsign(request.cookies.get(auth.COOKIE_NAME), key_of(container_of(request)))

    def viewer_of(request: Request) -> auth.Viewer | None:
        return auth.resolve_viewer(container_of(request), session_of(request))

    def csrf_matches_payload(payload: dict[str, Any], given: str, c: Container) -> bool:
        return auth.is_fresh(payload, c.clock.now()) and auth.csrf_matches(payload.get("csrf"), given)

    def set_session(request: Request, response: Response, payload: dict[str, Any]) -> None:
        response.set_cookie(
            auth.COOKIE_NAME,
            auth.sign(payload, key_of(container_of(request))),
            max_age=int(auth.SESSION_LIFETIME.total_seconds()),
            path=auth.COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("viewer", None)
        context.setdefault("active", "")
        html = templates.get_template(name).render(css_version=css_version, **context)
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

    def to_login(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = urlencode({"next": target}) if target != "/dashboard" else ""
        return RedirectResponse(f"/dashboard/login{'?' + query if query else ''}", status_code=303)

    def refuse(viewer: auth.Viewer | None, status_code: int, message: str) -> HTMLResponse:
        return render("error.html", status_code, viewer=viewer, title="Not allowed", message=message)

    def csrf_refused(viewer: auth.Viewer | None) -> HTMLResponse:
        message = "The form's security token is missing or stale. Reload the page and submit it again."
        return refuse(viewer, 403, message)

    # Static ------------------------------------------------------------------------------
    @router.get("/static/dashboard.css")
    def stylesheet_file() -> Response:
        """The dashboard's one stylesheet."""
        headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
        return Response(stylesheet, media_type="text/css", headers=headers)

    # Login -------------------------------------------------------------------------------
    @router.get("/login")
    def login_form(request: Request, next: str | None = Query(default=None, max_length=2000)) -> Response:
        """The login form: the API key in, a session cookie out."""
        if viewer_of(request) is not None:
            return RedirectResponse(_safe_next(next), status_code=303)
        payload = session_of(request)
        now = container_of(request).clock.now()
        csrf = payload.get("csrf") if payload and auth.is_fresh(payload, now) else None
        fresh = not isinstance(csrf, str)
        token = auth.new_csrf_token() if fresh else str(csrf)
        response = render("login.html", csrf=token, next=_safe_next(next), error=None)
        if fresh:
            set_session(request, response, auth.anonymous_payload(token, now))
        return response

    @router.post("/login")
    def login(
        request: Request,
        api_key: str = Form(default="", max_length=500),
        csrf_token: str = Form(default="", max_length=200),
        next: str = Form(default="/dashboard", max_length=2000),
    ) -> Response:
        """Check the key; on success start a session for its tenant."""
        c = container_of(request)
        payload = session_of(request)
        if payload is None or not csrf_matches_payload(payload, csrf_token, c):
            return csrf_refused(None)
        target = _safe_next(next)
        limiter: RateLimiter = request.app.state.limiter
        try:
            limiter.check(f"dashboard-login:{request.client.host if request.client else 'unknown'}")
            who = authenticate(c, api_key.strip()) if api_key.strip() else None
        except RateLimited as exc:
            return render("login.html", 429, csrf=csrf_token, next=target, error=exc.message)
        except Unauthorized:
            who = None
        if who is None:
            return render("login.html", 401, csrf=csrf_token, next=target, error="That API key is not valid.")
        if "admin" not in who.scopes and "read" not in who.scopes:
            error = "That API key lacks the 'read' scope the dashboard needs."
            return render("login.html", 403, csrf=csrf_token, next=target, error=error)
        response = RedirectResponse(target, status_code=303)
        # A new token at login: a token planted before login is worthless after it.
        session = auth.session_payload(
            tenant_id=who.tenant.id,
            key_id=who.key_id,
            key_name=who.key_name,
            csrf=auth.new_csrf_token(),
            now=c.clock.now(),
        )
        set_session(request, response, session)
        return response

    @router.post("/logout")
    def logout(request: Request, csrf_token: str = Form(default="", max_length=200)) -> Response:
        """End the session."""
        payload = session_of(request)
        if payload is not None and not auth.csrf_matches(payload.get("csrf"), csrf_token):
            return csrf_refused(viewer_of(request))
        response = RedirectResponse("/dashboard/login", status_code=303)
        response.delete_cookie(auth.COOKIE_NAME, path=auth.COOKIE_PATH, httponly=True, samesite="strict")
        return response

    # Overview ----------------------------------------------------------------------------
    @router.get("")
    def overview(request: Request) -> Response:
        """Events, messages, replies, bookings and cost per day; blocks, review queue and endpoint health."""
        viewer = viewer_of(request)
        if viewer is None:
            return to_login(request)
        c = container_of(request)
        now = c.clock.now()
        start = window_start(now)
        days = chart_days(start.date(), WINDOW_DAYS)
        tenant = viewer.tenant
        with transaction(c.sessions) as session:
            repo = DashboardRepository(session, tenant.id, tenant.slug)
            booked_stages = repo.booked_stages()

            def daily(metric: Hashable, compute: Callable[[datetime, int], list[T]]) -> list[T]:
                return history.series((tenant.id, metric), start, WINDOW_DAYS, now, compute)

            events = daily("events", repo.events_per_day)
            sent = daily("sent", repo.sent_per_day)
            replies = daily("replies", repo.replies_per_day)
            bookings = daily(("bookings", *booked_stages), repo.bookings_per_day)
            blocks = daily("blocks", repo.blocks_per_day)
            costs = daily("costs", repo.cost_per_day)
            remote = [endpoint for cells in costs for (_tier, endpoint, provider) in cells if provider != "local"]
            endpoints = repo.endpoint_health(remote)
            urls = {
                config.key: config.resolved_base_url
                for tier in c.router(tenant).policy.tiers.values()
                for config in tier.endpoints
                if not config.is_local
            }
            breakers = stored_breakers(session, urls, now)
            unfinished = repo.unfinished_events(start)
            recent_blocks = repo.recent_blocks(start)
            review_counts = ReviewRepository(session, tenant.id).count_by_status()
            contacts = ContactRepository(session, tenant.id).count()
        series = [
            ("Events received", events, ""),
            ("Messages sent", sent, ""),
            ("Inbound replies", replies, ""),
            ("Bookings", bookings, ""),
            ("Guardrail blocks", blocks, ""),
            ("Model cost (USD)", [sum(cell.cost_usd for cell in cells.values()) for cells in costs], "$"),
        ]
        panels = [
            {
                "title": title,
                "total": charts.format_value(sum(values), unit),
                "svg": Markup(charts.daily_bar_chart(title, days, values, unit=unit)),
            }
            for title, values, unit in series
        ]
        tiers = tier_totals(costs)
        return render(
            "overview.html",
            viewer=viewer,
            active="overview",
            now=now,
            first_day=days[0],
            last_day=days[-1],
            panels=panels,
            booked_stages=booked_stages,
            events_total=int(sum(events)),
            unfinished=unfinished,
            tiers=tiers,
            tier_total=sum(t.cost_usd for t in tiers),
            endpoints=endpoints,
            breakers={name: (worst_breaker(rows), rows) for name, rows in breakers.items()},
            blocked=int(sum(blocks)),
            blocks=recent_blocks,
            review_open=review_counts.get("open", 0),
            contacts=contacts,
        )

    # Contacts ----------------------------------------------------------------------------
    @router.get("/contacts")
    def contacts(
        request: Request,
        q: str = Query(default="", max_length=200),
        page: int = Query(default=1, ge=1, le=1_000_000),
    ) -> Response:
        """Contacts, most recently updated first, found by any word of a name, an email or external id, or a phone."""
        viewer = viewer_of(request)
        if viewer is None:
            return to_login(request)
        c = container_of(request)
        query = q.strip()
        with transaction(c.sessions) as session:
            repo = ContactRepository(session, viewer.tenant.id)
            found = repo.search(query or None, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
            # A search reads only its index ranges, so its matches can be counted like the whole list.
            total = repo.count(query or None)
        rows = [
            {
                "external_id": ct.external_id,
                "name": ct.name,
                "email": ct.email,
                "stage": ct.stage,
                "segment": ct.segment,
                "language": ct.language,
                "last_activity": _last_activity(ct.last_inbound_at, ct.last_outbound_at, ct.updated_at),
            }
            for ct in found[:PAGE_SIZE]
        ]
        return render(
            "contacts.html",
            viewer=viewer,
            active="contacts",
            q=query,
            page=page,
            rows=rows,
            total=total,
            has_next=len(found) > PAGE_SIZE,
            first=(page - 1) * PAGE_SIZE + 1,
            page_url=lambda n: "/dashboard/contacts?" + urlencode({**({"q": query} if query else {}), "page": n}),
        )

    @router.get("/contacts/{external_id:path}")
    def contact_timeline(request: Request, external_id: str) -> Response:
        """One contact's events, decisions, messages, stage moves and follow-ups, in time order."""
        viewer = viewer_of(request)
        if viewer is None:
            return to_login(request)
        if not external_id:
            return RedirectResponse("/dashboard/contacts", status_code=303)
        c = container_of(request)
        try:
            with transaction(c.sessions) as session:
                timeline = AuditQueries().timeline(session, viewer.tenant.id, external_id)
        except NotFound as exc:
            return render("error.html", 404, viewer=viewer, active="contacts", title="Not found", message=exc.message)
        actions = [i["action"] for i in timeline["items"] if i["type"] == "action"]
        return render(
            "contact.html",
            viewer=viewer,
            active="contacts",
            contact=timeline["contact"],
            items=timeline["items"],
            followups=timeline["followups"],
            total_cost=sum(a["cost_usd"] or 0.0 for a in actions),
            decisions=len(actions),
        )

    # Review queue ------------------------------------------------------------------------
    def review_page(
        viewer: auth.Viewer,
        c: Container,
        page: int,
        *,
        flash: str | None = None,
        refused: _Review | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        now = c.clock.now()
        with transaction(c.sessions) as session:
            reviews = ReviewRepository(session, viewer.tenant.id)
            found = reviews.list("open", limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
            counts = reviews.count_by_status()
            items = [item_dict(i) for i in found[:PAGE_SIZE]]
            deadlines = {i.id: i.deadline for i in found}
            refs = DashboardRepository(session, viewer.tenant.id, viewer.tenant.slug).contacts_by_ids(
                [i.contact_id for i in found[:PAGE_SIZE]]
            )
        for item in items:
            item["overdue"] = deadlines[item["id"]] < now
            item["contact"] = refs.get(item["contact_id"])
        return render(
            "review.html",
            status_code,
            viewer=viewer,
            active="review",
            items=items,
            counts=counts,
            page=page,
            has_next=len(found) > PAGE_SIZE,
            flash=flash,
            refused=refused,
            can_review=viewer.can("review"),
        )

    @router.get("/review")
    def review_queue(
        request: Request,
        page: int = Query(default=1, ge=1, le=1_000_000),
        done: str | None = Query(default=None, pattern="^(approved|rejected)$"),
        item: int | None = Query(default=None, ge=1),
        message: str | None = Query(default=None, max_length=32),
    ) -> Response:
        """Open review items, nearest deadline first, with approve, edit-and-approve and reject."""
        viewer = viewer_of(request)
        if viewer is None:
            return to_login(request)
        flash = None
        if done and item:
            flash = f"Item #{item} {done}." + (f" {MESSAGE_FATE.get(message, '')}" if message else "")
        return review_page(viewer, container_of(request), page, flash=flash)

    def decide(
        request: Request,
        item_id: int,
        csrf_token: str,
        page: int,
        action: Callable[[Container, auth.Viewer], dict[str, Any]],
        edited: str | None = None,
    ) -> Response:
        viewer = viewer_of(request)
        if viewer is None:
            return to_login(request)
        if not auth.csrf_matches(viewer.csrf, csrf_token):
            return csrf_refused(viewer)
        if not viewer.can("review"):
            return refuse(viewer, 403, "This API key lacks the 'review' scope: it can look, not decide.")
        c = container_of(request)
        try:
            result = action(c, viewer)
        except NightcrewError as exc:
            details = [str(d) for d in exc.details] if isinstance(exc.details, list) else []
            refused = _Review(item_id, exc.message, details, edited)
            return review_page(viewer, c, page, refused=refused, status_code=exc.status_code)
        query = {"done": result["status"], "item": item_id, "page": page}
        if result.get("message_status"):
            query["message"] = result["message_status"]
        return RedirectResponse(f"/dashboard/review?{urlencode(query)}", status_code=303)

    @router.post("/review/{item_id}/approve")
    def approve(
        request: Request,
        item_id: int = FastApiPath(ge=1, le=2**31 - 1),
        csrf_token: str = Form(default="", max_length=200),
        text: str | None = Form(default=None, max_length=5000),
        note: str | None = Form(default=None, max_length=1000),
        page: int = Form(default=1, ge=1, le=1_000_000),
    ) -> Response:
        """Approve as drafted, or with an edited text that every guardrail checks again."""
        edited = text if text and text.strip() else None

        def run(c: Container, viewer: auth.Viewer) -> dict[str, Any]:
            return approve_item(
                c,
                viewer.tenant,
                item_id,
                reviewer=viewer.key_name,
                text=edited,
                correction={},
                note=note.strip() if note and note.strip() else None,
            )

        return decide(request, item_id, csrf_token, page, run, edited)

    @router.post("/review/{item_id}/reject")
    def reject(
        request: Request,
        item_id: int = FastApiPath(ge=1, le=2**31 - 1),
        csrf_token: str = Form(default="", max_length=200),
        reason: str = Form(default="", max_length=1000),
        page: int = Form(default=1, ge=1, le=1_000_000),
    ) -> Response:
        """Reject with a reason: the draft is never sent."""

        def run(c: Container, viewer: auth.Viewer) -> dict[str, Any]:
            return reject_item(
                c, viewer.tenant, item_id, reviewer=viewer.key_name, reason=reason.strip(), correction={}
            )

        return decide(request, item_id, csrf_token, page, run)

    # Models and outcomes -----------------------------------------------------------------
    @router.get("/models")
    def models_page(request: Request) -> Response:
        """Lead and intent models with their metrics."""
        viewer = viewer_of(request)
        if viewer is None:
            return to_login(request)
        rows = list(models(container_of(request), viewer.tenant))
        groups = []
        for kind in sorted({r.kind for r in rows}, key=lambda k: (k != "lead", k != "intent", k)):
            of_kind = sorted((r for r in rows if r.kind == kind), key=lambda r: r.created_at, reverse=True)
            metric_names = sorted({name for r in of_kind for name in r.metrics})
            groups.append({"kind": kind, "rows": of_kind, "metrics": metric_names})
        return render("models.html", viewer=viewer, active="models", groups=groups)

    @router.get("/outcomes")
    def outcomes_page(request: Request, days: int = Query(default=WINDOW_DAYS, ge=1, le=366)) -> Response:
        """Sent, replied, booked and opted out per template, variant, segment, language and follow-up path."""
        viewer = viewer_of(request)
        if viewer is None:
            return to_login(request)
        c = container_of(request)
        since = window_start(c.clock.now(), days)
        tables = outcome_tables(outcomes(c, viewer.tenant, since))
        return render("outcomes.html", viewer=viewer, active="outcomes", tables=tables, days=days, since=since.date())

    return router


@dataclass(frozen=True)
class OutcomeLine:
    """One row of the outcome table with its rates (each over messages sent)."""

    value: str
    sent: int
    replied: Rate
    booked: Rate
    opted_out: Rate

    def marker(self, which: str) -> Markup:
        """The rate's interval as a small inline SVG."""
        r: Rate = getattr(self, which)
        return Markup(charts.interval_marker(r.rate, r.low, r.high))


def outcome_tables(rows: Sequence[OutcomeRow]) -> list[tuple[str, list[OutcomeLine]]]:
    """Rows grouped by dimension (in the issue's order, unknown ones last), busiest value first."""
    order = {d: i for i, d in enumerate(OUTCOME_DIMENSIONS)}
    dimensions = sorted({r.dimension for r in rows}, key=lambda d: (order.get(d, len(order)), d))
    tables = []
    for dimension in dimensions:
        lines = [
            OutcomeLine(r.value, r.sent, rate(r.replied, r.sent), rate(r.booked, r.sent), rate(r.opted_out, r.sent))
            for r in sorted((r for r in rows if r.dimension == dimension), key=lambda r: (-r.sent, r.value))
        ]
        tables.append((dimension, lines))
    return tables


def chart_days(start: date, days: int) -> list[date]:
    """The dates of a window starting at ``start``."""
    return [start + timedelta(days=i) for i in range(days)]
