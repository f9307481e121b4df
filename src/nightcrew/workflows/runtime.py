"""DBOS set-up, queues, and the process's container as seen from inside workflow steps.

DBOS workflows are module-level functions, so they reach the composition root through
``container()`` rather than through arguments (arguments are checkpointed; services are not).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from dbos import DBOS, DBOSClient, DBOSConfig, DBOSPortableJSONSerializer, Queue

from nightcrew.ai.config import EndpointConfig, RoutingPolicy, TaskName
from nightcrew.bootstrap import Container
from nightcrew.db import make_dbos_sqlite_engine, prepare_sqlite_file
from nightcrew.errors import ConfigurationError, NightcrewError
from nightcrew.observe.metrics import STEP_SECONDS
from nightcrew.observe.tracing import span_under

P = ParamSpec("P")
R = TypeVar("R")

EVENTS_QUEUE = "events"
DELIVERIES_QUEUE = "deliveries"
FOLLOWUPS_QUEUE = "followups"
LLM_QUEUE = "llm"

_container: Container | None = None
_container_lock = threading.Lock()
_queues: dict[str, Queue] = {}
# The limiter each per-endpoint model queue was registered with in this process: re-register on a change.
_model_limiters: dict[str, tuple[int, float]] = {}
_model_queue_lock = threading.Lock()
_launched = False
_client: DBOSClient | None = None
_supervisor: Any = None

# The traceparent of the event a workflow is working on; each step's span joins that trace.
current_traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar("traceparent", default=None)


def set_container(container: Container | None) -> None:
    """Make ``container`` the one workflow steps use."""
    global _container
    with _container_lock:
        _container = container


def container() -> Container:
    """The composition root of this process."""
    if _container is None:
        raise ConfigurationError("nightcrew runtime not started: call workflows.runtime.launch() first")
    return _container


def dbos_config(container: Container) -> DBOSConfig:
    """DBOS settings made explicit (ARCHITECTURE rule 5)."""
    settings = container.settings
    config: DBOSConfig = {
        "name": "nightcrew",
        "system_database_url": settings.database_url,
        "application_version": settings.application_version,
        "executor_id": settings.executor_id,
        "serializer": DBOSPortableJSONSerializer(),
        "log_level": "WARNING",
        "notification_listener_polling_interval_sec": 1.0,
        "scheduler_polling_interval_sec": 5.0,
    }
    if settings.is_sqlite:
        config["system_database_engine"] = make_dbos_sqlite_engine(settings.database_url)
    return config


def connect_client(container: Container) -> None:
    """API-only processes enqueue work through DBOS's client and leave running it to the workers."""
    global _client
    set_container(container)
    if _client is None:
        _client = DBOSClient(
            system_database_url=container.settings.database_url,
            serializer=DBOSPortableJSONSerializer(),
            application_name="nightcrew",
        )


def client() -> DBOSClient | None:
    """The enqueue-only client, in an API-only process."""
    return _client


def _route_dbos_logs() -> None:
    """DBOS logs to its own plain console handler and stops its records there; send them through ours instead,
    so its lines (a step's exception message may hold an email or a phone) are JSON and redacted like the rest."""
    dbos_log = logging.getLogger("dbos")
    for handler in [h for h in dbos_log.handlers if h.name == "__dbos_console_log_handler__"]:
        dbos_log.removeHandler(handler)
    dbos_log.propagate = True


def launch(container: Container, *, schedule_sweeps: bool = True, supervise: bool = False) -> None:
    """Start DBOS in this process: recover this executor's pending workflows and consume the queues."""
    global _launched
    # Importing registers the workflows with DBOS; it must happen before launch.
    from nightcrew.workflows import registry  # noqa: F401

    set_container(container)
    if _launched:
        return
    prepare_sqlite_file(container.settings.database_url)
    logging.getLogger("dbos").setLevel(logging.WARNING)
    DBOS(config=dbos_config(container))
    DBOS.launch()
    _route_dbos_logs()
    concurrency = container.settings.worker_concurrency
    interval = container.settings.queue_polling_interval
    _queues[EVENTS_QUEUE] = DBOS.register_queue(
        EVENTS_QUEUE, worker_concurrency=concurrency, polling_interval_sec=interval
    )
    _queues[DELIVERIES_QUEUE] = DBOS.register_queue(
        DELIVERIES_QUEUE, worker_concurrency=concurrency, polling_interval_sec=interval
    )
    _queues[FOLLOWUPS_QUEUE] = DBOS.register_queue(
        FOLLOWUPS_QUEUE, worker_concurrency=concurrency, polling_interval_sec=interval
    )
    # Work waiting for a model drains through its endpoint's queue (model_queue); this one keeps draining
    # what was enqueued before per-endpoint queues existed, and work whose task names no network endpoint.
    _queues[LLM_QUEUE] = DBOS.register_queue(
        LLM_QUEUE,
        worker_concurrency=concurrency,
        polling_interval_sec=interval,
        limiter={"limit": container.settings.llm_queue_rate_per_second, "period": 1.0},
    )
    register_known_model_queues(container)
    if schedule_sweeps:
        from nightcrew.workflows.sweeps import scheduled_sweep

        DBOS.apply_schedules(
            [
                {
                    "schedule_name": "nightcrew-sweep",
                    "workflow_fn": scheduled_sweep,
                    "schedule": sweep_cron(container.settings.sweep_interval_seconds),
                }
            ]
        )
    _launched = True
    if supervise:
        from nightcrew.workflows.supervisor import Supervisor

        global _supervisor
        _supervisor = Supervisor(container)
        _supervisor.start()


def sweep_cron(interval_seconds: int) -> str:
    """A 6-field cron firing every ``interval_seconds`` (under a minute) or every minute."""
    if interval_seconds < 60:
        return f"*/{interval_seconds} * * * * *"
    return "0 * * * * *"


def shutdown() -> None:
    """Stop DBOS (tests and the demo start it again with another container)."""
    global _launched, _supervisor, _client
    if _supervisor is not None:
        _supervisor.stop()
        _supervisor = None
    if _client is not None:
        _client.destroy()
        _client = None
    if _launched:
        DBOS.destroy(destroy_registry=False)
    _queues.clear()
    _model_limiters.clear()
    _launched = False
    set_container(None)


def is_launched() -> bool:
    """Whether DBOS runs in this process."""
    return _launched


def queue(name: str) -> Queue:
    """A registered queue (a model queue another process registered is looked up in the database)."""
    found = _queues.get(name)
    if found is None and _launched and name.startswith(f"{LLM_QUEUE}:"):
        found = DBOS.retrieve_queue(name)
    if found is None:
        raise ConfigurationError(f"queue {name!r} is not registered: is the runtime launched?")
    return found


def model_queue_name(endpoint: EndpointConfig) -> str:
    """The queue of work waiting for ``endpoint``; the server's host is in it, since names repeat across playbooks."""
    host = urlsplit(endpoint.resolved_base_url).netloc
    key = endpoint.key
    return f"{LLM_QUEUE}:{key}" if key.endswith(f"@{host}") else f"{LLM_QUEUE}:{key}@{host}"


def register_model_queue(endpoint: EndpointConfig) -> str:
    """Register (once, or again when its rate changed) the rate-limited queue of ``endpoint``; its name.

    Queues live in the system database: every worker's queue thread starts consuming a new one within a second.
    """
    name = model_queue_name(endpoint)
    settings = container().settings
    limit, period = endpoint.queue_limiter(settings.llm_queue_rate_per_second)
    with _model_queue_lock:
        if _model_limiters.get(name) != (limit, period):
            _queues[name] = DBOS.register_queue(
                name,
                worker_concurrency=settings.worker_concurrency,
                polling_interval_sec=settings.queue_polling_interval,
                limiter={"limit": limit, "period": period},
            )
            _model_limiters[name] = (limit, period)
    return name


def model_queue(policy: RoutingPolicy, task: TaskName) -> str:
    """The queue work of ``task`` waits in for its endpoint (the shared ``llm`` queue when it names none)."""
    endpoint = policy.waits_for(task)
    return register_model_queue(endpoint) if endpoint is not None else LLM_QUEUE


def register_known_model_queues(c: Container) -> list[str]:
    """A queue for every network endpoint of the tenants' playbooks known now (later ones register on use)."""
    from nightcrew.crm.repository import TenantRepository
    from nightcrew.db import transaction

    with transaction(c.sessions) as session:
        slugs = [t.slug for t in TenantRepository(session).all()]
    names: list[str] = []
    for slug in slugs:
        try:
            policy = c.playbook(c.tenant(slug)).routing
        except NightcrewError as exc:  # one tenant's broken playbook must not keep the workers from starting
            logging.getLogger(__name__).warning("tenant %s: no model queues (%s)", slug, exc.message)
            continue
        names += [register_model_queue(endpoint) for endpoint in policy.network_endpoints()]
    return sorted(set(names))


def step(
    name: str,
    *,
    retries: int = 0,
    interval_s: float = 0.5,
    should_retry: Callable[[BaseException], bool] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A DBOS step that also opens a span under the event's trace and times itself."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def traced(*args: P.args, **kwargs: P.kwargs) -> R:
            if _supervisor is not None:
                # A worker whose heartbeat lapsed starts no step: its work may be running elsewhere already.
                _supervisor.check_fence()
            started = time.perf_counter()
            with span_under(current_traceparent.get(), name, workflow_id=DBOS.workflow_id or ""):
                try:
                    return fn(*args, **kwargs)
                finally:
                    STEP_SECONDS.labels(step=name).observe(time.perf_counter() - started)

        options: dict[str, Any] = {"name": name}
        if retries:
            options.update(
                retries_allowed=True,
                max_attempts=retries + 1,
                interval_seconds=interval_s,
                backoff_rate=2.0,
                should_retry=should_retry,
            )
        decorated: Callable[P, R] = DBOS.step(**options)(traced)
        return decorated

    return decorate
