"""Intent model: bundled data, held-out quality, opt-out layer, threshold, persistence, metrics, file errors."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from nightcrew.errors import ConfigurationError, NotFound, ValidationFailed
from nightcrew.intelligence.intents import (
    INTENTS,
    OPT_OUT,
    OTHER,
    IntentEvaluation,
    IntentExample,
    IntentModel,
    IntentPrediction,
    bundled_examples,
    bundled_holdout_evaluation,
    bundled_split,
    default_intent_model,
    evaluation_of,
    grouped_split,
    is_certain_opt_out,
    is_opt_out,
    load_examples,
    near_duplicate_groups,
    near_duplicate_share,
    opt_out_eval_set,
    opt_out_rule,
)
from nightcrew.intelligence.intents.classifier import CLASSIFIER_FILE, METADATA_FILE, MODEL_KIND, USE_ONLY_KIND
from nightcrew.intelligence.intents.encoder import encode
from nightcrew.intelligence.intents.splits import NEAR_DUPLICATE_COSINE

LANGS = ("es", "pt", "en")


@pytest.fixture(scope="module")
def model() -> IntentModel:
    return default_intent_model()


# ---------------------------------------------------------------- bundled data
def test_bundled_examples_cover_every_intent_in_every_language() -> None:
    # No fewer than the first set had (its smallest: 47 pt opt-outs, 38 pt `other`).
    examples = bundled_examples()
    counts = Counter((e.intent, e.language) for e in examples)
    assert {e.intent for e in examples} == {*INTENTS, OTHER}
    for intent in INTENTS:
        for lang in LANGS:
            assert counts[(intent, lang)] >= 47, (intent, lang, counts[(intent, lang)])
    assert all(counts[(OTHER, lang)] >= 38 for lang in LANGS)
    assert sum(counts[(i, lang)] for i in INTENTS for lang in LANGS) >= 1500


def test_bundled_examples_are_written_natively_not_translated() -> None:
    # Share of examples with a neighbour above cosine 0.8 in another language. Measured: es 8.9%, pt 7.0%,
    # en 8.4% (the first, partly translated set: 41%, 34%, 33%); within one language 5.8-9.4%. What is left
    # is mostly the short ways everyone says it ("no gracias" ~ "no thanks", "eres bot?" ~ "is this a bot?").
    share = near_duplicate_share(bundled_examples())
    assert set(share) == set(LANGS)
    for lang, figures in share.items():
        assert figures["cross_language"] <= 0.12, (lang, figures)


def test_bundled_examples_are_deduplicated() -> None:
    def key(text: str) -> str:
        folded = unicodedata.normalize("NFKD", text.lower())
        return " ".join(re.findall(r"\w+|[^\w\s?!.,]", "".join(c for c in folded if not unicodedata.combining(c))))

    keys = Counter(key(e.text) for e in bundled_examples())
    assert [k for k, n in keys.items() if n > 1] == []


def test_bundled_split_is_fixed_disjoint_and_stratified() -> None:
    train, held_out = bundled_split(0)
    assert (train, held_out) == bundled_split(0)
    assert bundled_split(1)[1] != held_out
    assert {e.text for e in train}.isdisjoint({e.text for e in held_out})
    assert len(train) + len(held_out) == len(bundled_examples())
    assert 0.18 <= len(held_out) / len(bundled_examples()) <= 0.22
    per_stratum = Counter((e.intent, e.language) for e in held_out)
    assert all(per_stratum[(i, lang)] >= 8 for i in [*INTENTS, OTHER] for lang in LANGS)


def test_bundled_split_keeps_near_duplicates_on_one_side() -> None:
    # Not one held-out message has a paraphrase or translation (cosine > 0.8, any language) in training.
    train, held_out = bundled_split(0)
    similarity = encode([e.text for e in held_out]) @ encode([e.text for e in train]).T
    assert float(similarity.max()) <= NEAR_DUPLICATE_COSINE


def test_near_duplicates_are_grouped_across_languages_and_split_together() -> None:
    pricing = [
        ("cuánto cuesta?", "es"),
        ("cuanto cuesta??", "es"),
        ("how much does it cost?", "en"),
        ("quanto custa?", "pt"),
    ]
    texts = [text for text, _ in pricing]
    assert near_duplicate_groups([*texts, "cancela la clase de mañana"]) == [0, 0, 0, 0, 1]
    examples = [IntentExample(text=text, intent="pricing", language=lang) for text, lang in pricing]
    examples += [
        IntentExample(text=text, intent=intent, language="es")
        for text, intent in [
            ("cancela la clase de mañana", "cancel"),
            ("el profe nunca se conectó", "complaint"),
            ("quiero hablar con una persona", "human"),
            ("agéndame la clase de prueba", "booking"),
            ("a qué hora son las clases?", "schedule"),
            ("no me interesa", "not_interested"),
        ]
    ]
    for seed in range(5):
        train, held_out = grouped_split(examples, seed=seed)
        sides = {e.text: "held out" if e in held_out else "train" for e in examples}
        assert len({sides[t] for t in texts}) == 1, (seed, sides)
        assert sorted(e.text for e in train + held_out) == sorted(e.text for e in examples)
    with pytest.raises(ValidationFailed, match="too few distinct examples"):
        grouped_split(examples[:5], seed=0)


# ---------------------------------------------------------------- quality
def test_held_out_macro_f1_per_language_above_floor() -> None:
    # TF-IDF + embeddings, measured on the grouped split (seed 0): macro-F1 es 0.883, pt 0.832, en 0.905, all
    # 0.873, accuracy 0.872 (es 0.881, pt 0.832, en 0.904); over seeds 0-7 the mean is es 0.884, pt 0.887,
    # en 0.913 (lowest 0.832). The USE-only model it replaced: es 0.816, pt 0.848, en 0.899, all 0.854 (seeds
    # 0-7: 0.864, 0.870, 0.906, lowest 0.80). A held-out language has about 115 examples (~10 per intent), so
    # one intent's F1 moves by 0.05-0.1 on a couple of messages.
    evaluation = bundled_holdout_evaluation(0, 0.0)
    assert set(evaluation.per_language_macro_f1) == set(LANGS)
    for lang, f1 in evaluation.per_language_macro_f1.items():
        assert f1 >= 0.81, (lang, f1)
    assert evaluation.macro_f1 >= 0.85
    assert evaluation.accuracy >= 0.85
    assert evaluation.per_intent[OPT_OUT].recall >= 0.95


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("precio?", "pricing"),
        ("qto custa", "pricing"),
        ("quiero hablar con alguien", "human"),
        ("cancela la clase de mañana", "cancel"),
        ("dá pra remarcar a aula de quinta pra sexta?", "reschedule"),
        ("the teacher didn't show up again, this is ridiculous", "complaint"),
    ],
)
def test_typical_messages(model: IntentModel, text: str, intent: str) -> None:
    assert model.predict(text, 0.45).intent == intent


# ---------------------------------------------------------------- opt-out layer
@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop!!",
        "Stop 🛑",
        "stooop",
        "BAJA",
        "baja por favor",
        "SAIR",
        "sair!!",
        "PARAR",
        "CANCELAR SUSCRIPCION",
        "cancelar mi suscripción",
        "no me escriban más",
        "No me escriban mas!!",
        "parem de mandar",
        "parem de mandar mensagem pfv",
        "unsubscribe",
        "UNSUBSCRIBE me",
        "CANCEL",
        "STOPALL",
        "please STOP",
        "no, stop texting me",
        "remove me from your list",
        "don't text me again",
        "quiero darme de baja",
        "denme de baja de los mensajes de la academia",
        "desuscribirme",
        "me tira da lista",
        "descadastrar",
        "não me mandem mais nada",
        "não quero mais receber mensagens",
        "sáquenme de su lista",
        "borren mi número",
        "dejen de escribirme",
        "me deixem em paz",
        "this is spam, stop",
        "já falei pra não me mandarem nada!!",
        "wrong number",
        "I'm unsubscribing",
        "paren ya con los mensajes",
    ],
)
def test_opt_out_keywords_and_phrases(text: str) -> None:
    assert is_opt_out(text), text


@pytest.mark.parametrize(
    "text",
    [
        "cancela la clase",
        "cancela",
        "cancelar",
        "Cancela a aula",
        "quiero cancelar la clase de mañana",
        "cancel the class",
        "cancel tomorrow's class",
        "para cuándo es la clase?",
        "para mi hijo de 8",
        "¿bajan el precio?",
        "quiero dar de baja a mi hija del curso",
        "quiero darme de baja del curso",
        "quero sair do curso de inglês",
        "no quiero darme de baja, solo cambiar el horario",
        "I don't want to unsubscribe, just change the time",
        "my son can't stop talking about the class",
        "stop by the office?",
        "we're calling it quits on the course",
        "no me manden el link todavía",
        "no me interesa",
        "não tenho interesse",
        "not interested",
        "remove me from the saturday class",
        "can we stop the classes for a month?",
        "the end of the class was great",
        "don't text me the link, email it",
    ],
)
def test_opt_out_tricky_negatives(text: str) -> None:
    assert not is_opt_out(text), (text, opt_out_rule(text))


def test_predict_applies_the_opt_out_layer_first(model: IntentModel) -> None:
    prediction = model.predict("BAJA", threshold=0.99)
    assert (prediction.intent, prediction.confidence, prediction.rule) == (OPT_OUT, 1.0, "keyword: baja")
    assert prediction.runner_up != OPT_OUT
    cancel = model.predict("cancela la clase", threshold=0.45)
    assert cancel.intent == "cancel" and cancel.rule is None


def test_every_bundled_opt_out_is_caught_and_nothing_else_is_flagged() -> None:
    # The rules were written from the first examples and extended for the rewritten ones: 146 of 146.
    examples = bundled_examples()
    opt_outs = [e for e in examples if e.intent == OPT_OUT]
    assert sum(is_opt_out(e.text) for e in opt_outs) >= len(opt_outs) - 2
    assert [e.text for e in examples if e.intent != OPT_OUT and is_opt_out(e.text)] == []


def test_opt_out_on_messages_written_after_the_rules(model: IntentModel) -> None:
    # Batch 2 was written after the rules were final. Measured with TF-IDF + embeddings: rule 18/30, rule +
    # model 29/30, certain 27/30; on its 30 deliberately tricky non-opt-outs the rule fired once ("stop the
    # video...") and the model (message/link words) 7 more times, once at or above 0.9 ("don't text me the
    # link, email it" 0.97): 2 certain. The USE-only model: 29, 26 and 3 ("não me mandaram o link" 0.90 too).
    rows = [row for row in opt_out_eval_set() if row[3] == "after-rules-2"]
    predictions = model.predict_many([text for text, *_ in rows], 0.45)
    positives = [p for p, row in zip(predictions, rows, strict=True) if row[1]]
    negatives = [p for p, row in zip(predictions, rows, strict=True) if not row[1]]
    assert len(positives) == len(negatives) == 30
    assert sum(p.intent == OPT_OUT for p in positives) >= 28
    assert sum(is_certain_opt_out(p) for p in positives) >= 26
    assert sum(is_certain_opt_out(p) for p in negatives) <= 2


def test_certain_opt_out() -> None:
    def prediction(intent: str, confidence: float, rule: str | None = None) -> IntentPrediction:
        return IntentPrediction(intent=intent, confidence=confidence, runner_up=None, scores={}, rule=rule)

    assert is_certain_opt_out(prediction(OPT_OUT, 1.0, "keyword: stop"))
    assert is_certain_opt_out(prediction(OPT_OUT, 0.95))
    assert not is_certain_opt_out(prediction(OPT_OUT, 0.7))
    assert not is_certain_opt_out(prediction(OTHER, 0.3))


# ---------------------------------------------------------------- threshold and other
def test_other_below_threshold(model: IntentModel) -> None:
    sure = model.predict("cuánto cuesta el curso de inglés?", threshold=0.0)
    assert sure.intent == "pricing"
    unsure = model.predict("cuánto cuesta el curso de inglés?", threshold=1.0)
    assert (unsure.intent, unsure.runner_up) == (OTHER, "pricing")
    assert unsure.confidence == pytest.approx(sure.confidence) and unsure.confidence < 1.0
    assert abs(sum(sure.scores.values()) - 1.0) < 1e-6
    assert set(sure.scores) == {*INTENTS, OTHER}


def test_greetings_and_blank_text_are_other(model: IntentModel) -> None:
    assert model.predict("buenas tardes, cómo están?", threshold=0.45).intent == OTHER
    blank = model.predict("   ", threshold=0.45)
    assert (blank.intent, blank.confidence, blank.scores) == (OTHER, 0.0, {})


def test_threshold_out_of_range_is_refused(model: IntentModel) -> None:
    with pytest.raises(ConfigurationError, match="between 0 and 1"):
        model.predict("hola", threshold=1.5)


def test_default_model_is_trained_once_per_process(model: IntentModel) -> None:
    assert default_intent_model() is model
    assert model.metadata.n_examples == len(bundled_examples())
    assert model.metadata.trained_at is None  # deterministic: nothing about it depends on when it ran


def test_default_model_reads_tfidf_beside_the_embeddings(model: IntentModel) -> None:
    metadata = model.metadata
    assert (metadata.model_kind, metadata.format_version, metadata.use_weight) == (MODEL_KIND, 2, 2.0)
    assert metadata.n_features is not None and metadata.n_features > 512 + 10_000
    # A typo the embedding alone reads differently is still pricing through its character n-grams.
    assert model.predict("kuanto cuesta el curso??", 0.45).intent == "pricing"


# ---------------------------------------------------------------- training, persistence
def test_training_is_deterministic_and_accepts_tuples() -> None:
    examples = [(e.text, e.intent, e.language) for e in bundled_split(0)[1]]
    first = IntentModel.train(examples)
    second = IntentModel.train(list(reversed(examples)))
    texts = ["precio?", "no me interesa", "quero falar com alguém"]
    a = [p.scores for p in first.predict_many(texts, 0.0)]
    b = [p.scores for p in second.predict_many(texts, 0.0)]
    assert all(np.allclose(list(x.values()), [y[k] for k in x], atol=1e-6) for x, y in zip(a, b, strict=True))
    assert first.metadata.data_sha256 == second.metadata.data_sha256
    assert IntentModel.train([(t, i) for t, i, _ in examples]).metadata.examples_per_language == {
        "unknown": len(examples)
    }


def test_training_needs_two_intents() -> None:
    with pytest.raises(ValidationFailed, match="two intents"):
        IntentModel.train([("hola", "other"), ("buenas", "other")])
    with pytest.raises(ValidationFailed, match="example 2"):
        IntentModel.train([("hola", "other"), ("", "booking")])


def test_save_load_round_trip(model: IntentModel, tmp_path: Path) -> None:
    evaluation = model.evaluate(bundled_split(0)[1][:60], threshold=0.45)
    saved = model.with_metrics(evaluation)
    saved.save(tmp_path / "model")
    metadata = json.loads((tmp_path / "model" / METADATA_FILE).read_text())
    assert metadata["n_examples"] == len(bundled_examples())
    assert metadata["intents"][-1] == OTHER and metadata["metrics"]["n_examples"] == 60
    loaded = IntentModel.load(tmp_path / "model")
    assert loaded.metadata.model_dump(exclude={"classifier_sha256"}) == saved.metadata.model_dump(
        exclude={"classifier_sha256"}
    )
    assert loaded.metadata.classifier_sha256 == metadata["classifier_sha256"]
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [CLASSIFIER_FILE, METADATA_FILE]
    texts = ["precio?", "BAJA", "puedo cambiar la clase?", "hello"]
    assert [p.model_dump() for p in loaded.predict_many(texts, 0.45)] == [
        p.model_dump() for p in model.predict_many(texts, 0.45)
    ]


def test_a_saved_use_only_model_still_loads_and_predicts(tmp_path: Path) -> None:
    # Format 1, as the USE-only default wrote it (no use_weight / n_features in its metadata).
    examples = bundled_split(0)[1]
    old = IntentModel.train(examples, kind=USE_ONLY_KIND)
    target = old.save(tmp_path / "old")
    metadata = json.loads((target / METADATA_FILE).read_text())
    assert (metadata["format_version"], metadata["model_kind"]) == (1, USE_ONLY_KIND)
    for key in ("use_weight", "n_features"):
        del metadata[key]
    (target / METADATA_FILE).write_text(json.dumps(metadata))
    assert not isinstance(sio.loads((target / CLASSIFIER_FILE).read_bytes()), dict)  # the regression alone
    loaded = IntentModel.load(target)
    assert loaded.metadata.model_kind == USE_ONLY_KIND
    texts = ["precio?", "BAJA", "quero remarcar a aula", "hello"]
    assert [p.model_dump() for p in loaded.predict_many(texts, 0.45)] == [
        p.model_dump() for p in old.predict_many(texts, 0.45)
    ]
    assert loaded.evaluate(examples).accuracy == old.evaluate(examples).accuracy


def test_load_names_a_format_version_it_does_not_read(model: IntentModel, tmp_path: Path) -> None:
    target = model.save(tmp_path / "m")
    metadata = json.loads((target / METADATA_FILE).read_text())
    assert metadata["format_version"] == 2
    (target / METADATA_FILE).write_text(json.dumps({**metadata, "format_version": 3}))
    with pytest.raises(ValidationFailed, match=r"format version 3 is not one this nightcrew reads \(1, 2\)"):
        IntentModel.load(target)
    # A format-2 file labelled format 1 is refused too, not read as a bare regression.
    (target / METADATA_FILE).write_text(json.dumps({**metadata, "format_version": 1}))
    with pytest.raises(ValidationFailed, match="format version 1 holds"):
        IntentModel.load(target)
    (target / METADATA_FILE).write_text(json.dumps({**metadata, "format_version": 1, "model_kind": USE_ONLY_KIND}))
    with pytest.raises(ValidationFailed, match="not an intent classifier over 512 features"):
        IntentModel.load(target)


def test_training_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValidationFailed, match="unknown intent model kind"):
        IntentModel.train([("hola", "other"), ("precio", "pricing")], kind="bert")


def test_load_refuses_missing_foreign_and_untrusted_models(model: IntentModel, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        IntentModel.load(tmp_path / "nowhere")
    target = model.save(tmp_path / "m")
    metadata = json.loads((target / METADATA_FILE).read_text())
    (target / METADATA_FILE).write_text(json.dumps({**metadata, "encoder": "some-other-encoder==1.0"}))
    with pytest.raises(ValidationFailed, match="retrain"):
        IntentModel.load(target)
    (target / METADATA_FILE).write_text(json.dumps(metadata))
    original = (target / CLASSIFIER_FILE).read_bytes()
    foreign = sio.dumps({"payload": Counter(a=1)})
    (target / CLASSIFIER_FILE).write_bytes(foreign)
    with pytest.raises(ValidationFailed, match="does not match the hash"):
        IntentModel.load(target)
    # Even with a matching hash, types outside skops' trusted defaults are refused.
    (target / METADATA_FILE).write_text(
        json.dumps({**metadata, "classifier_sha256": hashlib.sha256(foreign).hexdigest()})
    )
    with pytest.raises(ValidationFailed, match="unexpected types"):
        IntentModel.load(target)
    (target / CLASSIFIER_FILE).write_bytes(original)
    (target / METADATA_FILE).write_text(json.dumps(metadata))
    assert IntentModel.load(target).intents == model.intents


# ---------------------------------------------------------------- evaluation
def test_evaluation_numbers_on_a_hand_checked_case() -> None:
    evaluation = evaluation_of(
        ["pricing", "pricing", "booking", "booking"],
        ["pricing", "booking", "booking", "other"],
        ["es", "es", "pt", "pt"],
        0.45,
    )
    assert evaluation.accuracy == 0.5
    assert evaluation.per_intent["pricing"].f1 == pytest.approx(2 / 3)  # precision 1, recall 1/2
    assert evaluation.per_intent["booking"].f1 == pytest.approx(0.5)  # precision 1/2, recall 1/2
    assert evaluation.macro_f1 == pytest.approx((2 / 3 + 0.5) / 2)  # `other` is not a true label here
    assert evaluation.confusion.labels == ["booking", "pricing", "other"]
    assert evaluation.confusion.matrix == [[1, 0, 1], [1, 1, 0], [0, 0, 0]]
    # Within each language only one intent is true: es pricing (P 1, R 1/2), pt booking (P 1, R 1/2).
    assert evaluation.per_language_macro_f1 == {"es": pytest.approx(2 / 3), "pt": pytest.approx(2 / 3)}
    assert evaluation.predicted_other == 1


def test_evaluate_shape_and_json(model: IntentModel) -> None:
    held_out = bundled_split(0)[1]
    evaluation = model.evaluate(held_out[:90], threshold=0.45)
    labels = evaluation.confusion.labels
    assert len(evaluation.confusion.matrix) == len(labels) and all(
        len(r) == len(labels) for r in evaluation.confusion.matrix
    )
    assert set(evaluation.per_intent) == set(labels)
    assert [sum(row) for row in evaluation.confusion.matrix] == [evaluation.per_intent[lb].support for lb in labels]
    assert evaluation.n_examples == 90 == sum(m.support for m in evaluation.per_intent.values())
    assert IntentEvaluation.model_validate_json(evaluation.model_dump_json()) == evaluation


# ---------------------------------------------------------------- example files
def test_load_examples_csv_and_jsonl(tmp_path: Path) -> None:
    csv_file = tmp_path / "ex.csv"
    csv_file.write_text('\ufefftext,Intent,language\n"precio, por favor?",pricing,es\n\nquero marcar,BOOKING,pt\n')
    assert load_examples(csv_file) == [
        IntentExample(text="precio, por favor?", intent="pricing", language="es"),
        IntentExample(text="quero marcar", intent="booking", language="pt"),
    ]
    jsonl = tmp_path / "ex.jsonl"
    jsonl.write_text('{"text": "stop", "intent": "opt_out"}\n\n{"text": "hi", "intent": "other", "language": "en"}\n')
    assert [e.intent for e in load_examples(jsonl)] == [OPT_OUT, OTHER]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.jsonl", '{"text": "hola", "intent": "other"}\n{"text": "precio"}\n', r"a\.jsonl:2: missing intent"),
        ("b.jsonl", '{"text": "hola", "intent": "other"}\n\n{not json\n', r"b\.jsonl:3: not valid JSON"),
        ("c.jsonl", '["hola", "other"]\n', r"c\.jsonl:1: expected an object"),
        ("d.csv", "text,intent\nhola,other\nprecio,Book Now!\n", r"d\.csv:3: intent"),
        ("e.csv", 'text,intent\n"hola\ncomo estan",other\n,pricing\n', r"e\.csv:4: missing text"),
        ("f.csv", "message,label\nhola,other\n", r"f\.csv:1: the header needs"),
        ("g.txt", "hola\n", r"g\.txt: expected a \.csv or \.jsonl"),
        ("h.jsonl", "\n\n", r"h\.jsonl: no examples"),
    ],
)
def test_bad_example_files_name_the_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValidationFailed, match=message) as info:
        load_examples(path)
    line = re.search(r":(\d+):", str(info.value))
    if line:
        assert info.value.details == {"line": int(line.group(1))}


def test_missing_example_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="no such file"):
        load_examples(tmp_path / "nope.csv")
