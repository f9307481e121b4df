"""Model commands: lead segment models, intent models, language detection, guardrail checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nightcrew.cli.common import TenantOption, app, console, err, fail, opened, settings_or_exit
from nightcrew.db import transaction
from nightcrew.errors import NightcrewError, ValidationFailed

leads_app = typer.Typer(help="Lead segment models: train, evaluate, promote through the gate.", no_args_is_help=True)
intents_app = typer.Typer(help="Intent models: train and evaluate on your own messages.", no_args_is_help=True)
language_app = typer.Typer(help="Language detection.", no_args_is_help=True)
guardrails_app = typer.Typer(help="Check drafts against the playbook's guardrails.", no_args_is_help=True)
app.add_typer(leads_app, name="leads")
app.add_typer(intents_app, name="intents")
app.add_typer(language_app, name="language")
app.add_typer(guardrails_app, name="guardrails")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def _read_csv(path: Path) -> Any:
    from nightcrew.intelligence.segments import parse_crm_csv

    try:
        return parse_crm_csv(path.read_bytes())
    except OSError as exc:
        raise ValidationFailed(f"cannot read {path}: {exc.strerror or exc}") from exc


def _print_metrics(metrics: Any, title: str) -> None:
    from nightcrew.intelligence.segments import render_calibration_table, render_metrics_table

    console.print(render_metrics_table(metrics, title=title))
    console.print(render_calibration_table(metrics))


@leads_app.command("train")
def leads_train(
    csv: Annotated[Path, typer.Option(help="A CRM export with one row per past lead.")],
    target: Annotated[str, typer.Option(help="The outcome column (yes/no, 1/0, or segment names).")],
    model_dir: Annotated[Path, typer.Option(help="Where to write the model file.")],
    drop: Annotated[list[str] | None, typer.Option(help="A column to leave out (repeatable).")] = None,
    id_column: Annotated[str | None, typer.Option(help="The column that identifies a lead.")] = None,
    positive_class: Annotated[str | None, typer.Option(help="The outcome value that counts as success.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train on the business's own history, measure honestly, and register the model (inactive)."""
    from nightcrew.intelligence.segments import check_promotion, save_model, train_segment_model

    with opened(tenant) as (container, ref):
        frame = _read_csv(csv)
        with Progress(
            TextColumn("[bold]training[/bold] {task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("", total=1)
            result = train_segment_model(
                frame,
                target,
                drop=tuple(drop or ()),
                id_column=id_column,
                reference_time=container.clock.now(),
                positive_class=positive_class,
                random_state=seed,
                progress=lambda done, total, label: bar.update(task, completed=done, total=total, description=label),
            )
        info = save_model(result.model, model_dir.resolve())
        with transaction(container.sessions) as session:
            row = container.registry.register_lead_model(
                session, ref.id, result, info, target=target, now=container.clock.now()
            )
            version = row.version
        preview = check_promotion(result.metrics)
    if as_json:
        print(
            json.dumps(
                {
                    "version": version,
                    "path": info.path,
                    "metrics": result.metrics.model_dump(mode="json"),
                    "gate_preview": preview.model_dump(mode="json"),
                },
                ensure_ascii=False,
            )
        )
        return
    _print_metrics(result.metrics, f"lead model v{version} ({info.chosen_model}), cross-validated")
    verdict = "would pass" if preview.allowed else "would be refused"
    console.print(
        f"registered as version {version} at {info.path}; the gate {verdict}: "
        + "; ".join(f"{c.name}: {c.detail}" for c in preview.checks)
    )


@leads_app.command("evaluate")
def leads_evaluate(
    model_dir: Annotated[Path, typer.Option(help="The folder train wrote.")],
    csv: Annotated[Path, typer.Option(help="Labelled leads the model has never seen.")],
    target: Annotated[str, typer.Option(help="The outcome column.")],
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure a model on held-out data; unknown categories and missing columns are reported, not fatal."""
    from nightcrew.intelligence.repository import ModelVersionRepository
    from nightcrew.intelligence.segments import evaluate_segment_model, load_model

    with opened(tenant) as (container, ref):
        path = model_dir / "model.skops" if model_dir.is_dir() else model_dir
        model = load_model(path)
        metrics = evaluate_segment_model(model, _read_csv(csv), target)
        with transaction(container.sessions) as session:
            registered = [
                r for r in ModelVersionRepository(session, ref.id).all("lead") if Path(r.path) == path.resolve()
            ]
            for row in registered:
                container.registry.record_holdout(session, ref.id, "lead", row.version, metrics.model_dump(mode="json"))
    if as_json:
        print(json.dumps(metrics.model_dump(mode="json"), ensure_ascii=False))
        return
    _print_metrics(metrics, f"{path} on {csv} (held out)")
    for issue in metrics.schema_issues:
        err.print(f"[yellow]schema:[/yellow] {issue}")


@leads_app.command("promote")
def leads_promote(
    version: Annotated[int, typer.Argument(help="The version to make active.")],
    min_accuracy: Annotated[float | None, typer.Option(help="Refuse below this accuracy (default: playbook).")] = None,
    min_auc: Annotated[float | None, typer.Option(help="Refuse below this ROC AUC (default: playbook).")] = None,
    allow_leakage: Annotated[bool, typer.Option(help="Promote despite a suspected leaking column.")] = False,
    allow_accuracy_tie: Annotated[
        bool | None,
        typer.Option(
            "--allow-accuracy-tie/--strict-accuracy",
            help="Accept accuracy within one standard error of the base rate (default: playbook).",
        ),
    ] = None,
    tenant: TenantOption = None,
) -> None:
    """Activate a model only if it beats the trivial one and the thresholds; otherwise say which check failed."""
    with opened(tenant) as (container, ref), transaction(container.sessions) as session:
        policy = container.playbook(ref).lead_model
        tie = policy.allow_accuracy_tie if allow_accuracy_tie is None else allow_accuracy_tie
        decision = container.registry.promote_lead_model(
            session,
            ref.id,
            version,
            now=container.clock.now(),
            min_accuracy=policy.min_accuracy if min_accuracy is None else min_accuracy,
            min_auc=policy.min_auc if min_auc is None else min_auc,
            allow_leakage=allow_leakage,
            strict_accuracy=not tie,
        )
    for check in decision.checks:
        mark = "[green]pass[/green]" if check.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {check.name}: {check.detail}")
    if not decision.allowed:
        err.print(f"[red]refused:[/red] version {version} stays inactive")
        raise typer.Exit(1)
    console.print(f"version {version} is now the active lead model")


@leads_app.command("models")
def leads_models(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Every registered model (lead and intent) with its metrics, and which is active."""
    from nightcrew.intelligence.repository import ModelVersionRepository
    from nightcrew.intelligence.service import version_dict

    with opened(tenant) as (container, ref), transaction(container.sessions) as session:
        rows = [version_dict(r) for r in ModelVersionRepository(session, ref.id).all()]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(
        "kind", "version", "active", "created", "algorithm", "base rate", "accuracy", "AUC", "macro-F1", "gate"
    )
    for row in rows:
        metrics = row["holdout_metrics"] or row["metrics"]
        gate = row["gate"] or {}
        table.add_row(
            row["kind"],
            str(row["version"]),
            "yes" if row["active"] else "",
            row["created_at"][:16],
            row["algorithm"],
            _fmt(metrics.get("base_rate")),
            _fmt(metrics.get("accuracy")),
            _fmt(metrics.get("roc_auc")),
            _fmt(metrics.get("macro_f1")),
            "" if not gate else ("allowed" if gate.get("allowed") else "refused"),
        )
    console.print(table)


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else ""


@intents_app.command("train")
def intents_train(
    data: Annotated[Path, typer.Option(help="CSV or JSONL with text,intent (and optionally language).")],
    model_dir: Annotated[Path, typer.Option(help="Where to write the model.")],
    activate: Annotated[bool, typer.Option(help="Make it the active model if it passes the gate.")] = False,
    min_macro_f1: Annotated[float, typer.Option(help="The gate: held-out macro-F1 at least this.")] = 0.7,
    include_corrections: Annotated[
        bool,
        typer.Option("--include-corrections", help="Add the intents the tenant's reviewers corrected to the examples."),
    ] = False,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train an intent model on your messages (about 20% held out for the metrics, by near-duplicate group)."""
    from nightcrew.intelligence.intents import IntentModel, grouped_split, load_examples

    with opened(tenant) as (container, ref):
        examples = load_examples(data)
        corrections: list[Any] = []
        skipped = 0
        if include_corrections:
            with transaction(container.sessions) as session:
                corrections, skipped = _intent_corrections(session, ref.id)
        # Corrections join before the split: their figures count too, and none straddles it with a twin.
        examples = [*examples, *corrections]
        train, held_out = grouped_split(examples, seed=0)
        evaluation = IntentModel.train(train, trained_at=container.clock.now()).evaluate(held_out)
        model = IntentModel.train(examples, trained_at=container.clock.now()).with_metrics(evaluation)
        model.save(model_dir)
        digest = hashlib.sha256((model_dir / "classifier.skops").read_bytes()).hexdigest()
        with transaction(container.sessions) as session:
            row = container.registry.register_intent_model(
                session, ref.id, model, model_dir.resolve(), digest, now=container.clock.now()
            )
            version = row.version
            promoted = activate and container.registry.promote_intent_model(
                session, ref.id, version, now=container.clock.now(), min_macro_f1=min_macro_f1
            )
    if as_json:
        print(
            json.dumps(
                {
                    "version": version,
                    "active": promoted,
                    "n_examples": len(examples),
                    "corrections_added": len(corrections),
                    "corrections_skipped": skipped,
                    "held_out": evaluation.model_dump(mode="json"),
                },
                ensure_ascii=False,
            )
        )
        return
    _print_intent_evaluation(evaluation, f"intent model v{version}: held-out {len(held_out)} of {len(examples)}")
    if include_corrections:
        console.print(
            f"added {len(corrections)} reviewer correction(s) to the examples"
            + (f"; skipped {skipped} without a message text or a valid intent name" if skipped else "")
        )
    console.print(f"registered as intent version {version}" + (" and activated" if promoted else ""))
    if activate and not promoted:
        err.print(f"[red]not activated:[/red] macro-F1 {evaluation.macro_f1:.3f} < {min_macro_f1:.3f}")
        raise typer.Exit(1)


def _intent_corrections(session: Any, tenant_id: int) -> tuple[list[Any], int]:
    """The tenant's reviewer-corrected intents as examples, and how many could not be used."""
    from pydantic import ValidationError

    from nightcrew.intelligence.intents import IntentExample
    from nightcrew.review.repository import ExampleRepository

    examples, skipped = [], 0
    for row in ExampleRepository(session, tenant_id).of_kind("intent"):
        try:
            examples.append(IntentExample(text=row.text or "", intent=row.label, language=row.language))
        except ValidationError:
            skipped += 1
    return examples, skipped


@intents_app.command("evaluate")
def intents_evaluate(
    data: Annotated[Path, typer.Option(help="CSV or JSONL with text,intent.")],
    model_dir: Annotated[Path | None, typer.Option(help="A saved model (default: the active one).")] = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Accuracy, macro-F1, per-intent precision/recall and the confusion matrix."""
    from nightcrew.intelligence.intents import IntentModel, load_examples

    with opened(tenant) as (container, ref):
        model = IntentModel.load(model_dir) if model_dir else container.intent_model(ref)
        evaluation = model.evaluate(load_examples(data))
    if as_json:
        print(json.dumps(evaluation.model_dump(mode="json"), ensure_ascii=False))
        return
    _print_intent_evaluation(evaluation, f"{model_dir or 'active model'} on {data}")


def _print_intent_evaluation(evaluation: Any, title: str) -> None:
    console.print(
        f"[bold]{title}[/bold]: accuracy {evaluation.accuracy:.3f}, macro-F1 {evaluation.macro_f1:.3f}; "
        + ", ".join(f"{lang} {f1:.3f}" for lang, f1 in sorted(evaluation.per_language_macro_f1.items()))
    )
    table = Table("intent", "precision", "recall", "f1", "support")
    for intent, row in evaluation.per_intent.items():
        table.add_row(intent, f"{row.precision:.3f}", f"{row.recall:.3f}", f"{row.f1:.3f}", str(row.support))
    console.print(table)
    labels = evaluation.confusion.labels
    confusion = Table("true \\ predicted", *[label[:8] for label in labels])
    for label, counts in zip(labels, evaluation.confusion.matrix, strict=True):
        confusion.add_row(label, *[str(n) if n else "." for n in counts])
    console.print(confusion)


@language_app.command("detect")
def language_detect(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to detect.")] = None,
    file: Annotated[Path | None, typer.Option(help="JSONL with a 'text' field per line.")] = None,
    prior: Annotated[str | None, typer.Option(help="The contact's known language, for very short texts.")] = None,
) -> None:
    """Print one JSON line per text: {"text", "language", "confidence"}."""
    from nightcrew.intelligence.language import detect_language
    from nightcrew.playbook import load_playbook

    settings = settings_or_exit()
    languages = load_playbook(settings.playbook).languages
    items: list[str] = list(texts or [])
    if file is not None:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                items.append(str(record["text"]))
            except (ValueError, KeyError, TypeError):
                err.print(f"[red]{file}:{number}:[/red] needs a JSON object with a 'text' field; skipped")
    if not items:
        err.print("[red]error:[/red] give texts as arguments or --file")
        raise typer.Exit(2)
    for text in items:
        guess = detect_language(text, languages, prior=prior)
        print(
            json.dumps(
                {
                    "text": text,
                    "language": guess.language,
                    "confidence": round(guess.confidence, 4),
                    "source": guess.source,
                },
                ensure_ascii=False,
            )
        )


@guardrails_app.command("check")
def guardrails_check(
    file: Annotated[Path, typer.Option(help="JSONL: one case per line (draft, channel, contact, inbound, now).")],
    playbook: Annotated[Path | None, typer.Option(help="Playbook to check against (default: the active one).")] = None,
) -> None:
    """Print one JSON line per case: {"verdict", "reasons", "until" when deferred, "text" when revised}."""
    from nightcrew.clock import SystemClock
    from nightcrew.guardrails.cases import check_cases
    from nightcrew.guardrails.policy import PolicySet
    from nightcrew.playbook import load_playbook

    settings = settings_or_exit()
    try:
        policy = PolicySet.from_playbook(load_playbook(playbook or settings.playbook))
        lines = file.read_text(encoding="utf-8").splitlines()
    except NightcrewError as exc:
        raise fail(exc) from exc
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot read {file}: {exc.strerror}")
        raise typer.Exit(1) from exc
    bad = 0
    for result in check_cases(lines, policy, default_now=SystemClock().now()):
        result.pop("line", None)
        bad += "error" in result
        print(json.dumps(result, ensure_ascii=False))
    if bad:
        # Every readable case was checked and printed; the exit code tells a script that some were not.
        err.print(f"[yellow]{bad} line(s) could not be read[/yellow]")
        raise typer.Exit(1)
