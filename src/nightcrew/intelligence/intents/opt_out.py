"""The opt-out keyword layer: catches a request to stop messaging even when the intent model is unsure.

Accent- and case-insensitive, in Spanish, Portuguese and English. Two kinds of rule:

* the whole message is a keyword once politeness and filler words are dropped ("STOP", "baja por favor",
  "SAIR!!", "stop pls 🙏"). The English list follows the carriers' SMS keywords (STOP, STOPALL,
  UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE): a bare "cancel" already blocks the number at the
  carrier, so it is an opt-out here too. The Spanish and Portuguese "cancela"/"cancelar" alone are not:
  in those languages they are about a class;
* a phrase anywhere ("no me escriban más", "parem de mandar", "remove me from your list"), unless a
  negation comes just before it in the same clause ("no quiero darme de baja") or, for the phrases that
  also mean leaving a course ("darme de baja", "cancelar la suscripción"), the words after it name the
  course, a class or a child rather than the messages ("quiero darme de baja del curso" is a
  cancellation).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Politeness and filler words that do not change a one-word opt-out ("baja por favor", "stop pls").
_FILLERS = frozenset(
    (
        "por",
        "favor",
        "porfa",
        "porfavor",
        "porfis",
        "pf",
        "pfv",
        "pfvr",
        "xfa",
        "fa",
        "x",
        "plis",
        "pls",
        "plz",
        "please",
        "gracias",
        "obrigado",
        "obrigada",
        "obg",
        "brigado",
        "thanks",
        "thank",
        "you",
        "thx",
        "ty",
        "ya",
        "ja",
        "agora",
        "ahora",
        "now",
        "already",
        "ok",
        "okay",
        "sim",
        "si",
        "yes",
        "ahi",
        "ai",
        "mesmo",
        "mismo",
        "msm",
    )
)

_WHOLE_MESSAGE_KEYWORDS = frozenset(
    {
        # English (carrier keywords and close variants)
        "stop",
        "stopall",
        "stop all",
        "unsubscribe",
        "unsub",
        "cancel",
        "cancel all",
        "end",
        "quit",
        "optout",
        "opt out",
        "revoke",
        "remove me",
        # Spanish
        "baja",
        "de baja",
        "la baja",
        "parar",
        "para",
        "basta",
        "desuscribir",
        "desuscribirme",
        "desuscribirse",
        "no mas mensajes",
        # Portuguese
        "sair",
        "pare",
        "parem",
        "chega",
        "descadastrar",
        "descadastra",
        "descadastre",
        "remover",
        "borrenme",
        "eliminenme",
        "saquenme",
        "sacame",
        "me desuscribo",
        "me descadastra",
    }
)

_MESSAGES = (
    r"(?:mensage\w*|mensaje\w*|msgs?|msjs?|messages?|texts?|txts?|sms|whats\w*|wasaps?|e-?mails?|mails?"
    r"|correos?|promo\w*|publicidad|propaganda|spam|notifica\w*|informac\w*|info)"
)
# After these phrases, a course, class or child means "leave the course", not "stop the messages".
_COURSE_WORDS = re.compile(
    r"\b(curso|cursos|clase|clases|aula|aulas|programa|inscripcion|matricula|plan|academia|escola|escuela"
    r"|hijo|hija|hijos|hijas|filho|filha|nino|nina|nene|nena|course|class|classes|program|son|daughter)\b"
)
_MESSAGING_WORDS = re.compile(rf"\b({_MESSAGES}|lista|list|difusion|transmissao)\b")
_NEGATIONS = frozenset({"no", "nao", "not", "dont", "never", "nunca", "jamas", "doesnt", "wont", "didnt", "cant"})


@dataclass(frozen=True)
class _Phrase:
    name: str
    pattern: re.Pattern[str]
    course_sensitive: bool = False
    negatable: bool = True


def _phrase(name: str, pattern: str, *, course_sensitive: bool = False, negatable: bool = True) -> _Phrase:
    return _Phrase(name, re.compile(pattern), course_sensitive, negatable)


_PHRASES: tuple[_Phrase, ...] = (
    # English
    _phrase("unsubscribe", r"\bunsub\w*"),
    _phrase("opt out", r"\bopt(?:ing)? ?out\b"),
    # "stop the monthly charge" is about billing, not about messages.
    _phrase(
        "stop ...",
        r"^stop\b(?! by\b)(?! (?:the|my|our) (?:\w+ )?(?:charges?|payments?|billing|autopay|class|classes|lessons?"
        r"|course)\b)|\bstop$",
    ),
    _phrase(
        "stop contacting",
        r"\b(?:stop|quit|cease) (?:texting|txting|messaging|msging|sending|emailing|contacting|calling"
        r"|spamming|bothering|writing)\b",
    ),
    _phrase("cease communication", r"\bcease (?:all )?(?:communication|contact)\b"),
    _phrase(
        "remove me from the list",
        r"\b(?:remove|take|delete|erase) (?:me|us|my \w+(?: \w+)?|this number) (?:off|from) "
        r"(?:your|the|this|all|my)? ?(?:\w+ )?(?:list|lists|contacts|database|system)\b",
    ),
    _phrase(
        "remove my number",
        r"\b(?:remove|delete|erase|lose) (?:my|this) (?:phone )?(?:number|email|e-mail|contact|data|details)\b",
    ),
    _phrase("remove me", r"\b(?:remove me|i want to be removed|take me off)\b", course_sensitive=True),
    _phrase(
        "do not contact me",
        r"\b(?:dont|do not|never) (?:ever )?(?:text|txt|message|msg|contact|email|e-mail|sms|whatsapp)"
        r" (?:me|us|this number)\b"
        # "don't text me the link, email it" asks for another channel, not for silence.
        r"(?! (?:the|a|an|it|that|this|those|these|your|back)\b)",
        negatable=False,
    ),
    _phrase("do not call again", r"\b(?:dont|do not|never) call (?:me|us) (?:again|anymore|ever)\b", negatable=False),
    _phrase(
        "do not want messages",
        rf"\b(?:dont|do not|no longer) want (?:to (?:receive|get) )?(?:these|your|any|any more|more)? ?"
        rf"{_MESSAGES}\b",
        negatable=False,
    ),
    _phrase("no more messages", rf"\bno more {_MESSAGES}\b", negatable=False),
    _phrase("leave me alone", r"\bleave (?:me|us) alone\b"),
    _phrase("enough messages", rf"\benough (?:with )?(?:the |these |your |of )?{_MESSAGES}\b"),
    _phrase(
        "block my number",
        r"\bbloque\w* (?:o |el |mi |meu |este |esse |este )?(?:numero|contato|contacto)\b"
        r"|\bblock (?:my|this) number\b",
    ),
    _phrase("do not consent", r"\b(?:dont|do not) consent\b", negatable=False),
    _phrase("wrong number", r"\b(?:wrong number|numero equivocado|numero errado|numero incorrecto)\b"),
    # Spanish
    _phrase(
        "no me escriban",
        r"\bno (?:(?:me|nos) )?(?:escriban|escribas|escriba|manden|mandes|mande|envien|envies|envie|contacten"
        r"|contactes|contacte|molesten|molestes|moleste|sigan \w+|vuelvan a \w+)"
        rf"(?= (?:mas|nada|ningun\w*|nunca|{_MESSAGES}|a este numero|aqui|aca|por aqui|por aca|gracias|por favor"
        r"|porfa|porfavor|x fa|pls)\b|$| ,| \.| !)",
        negatable=False,
    ),
    _phrase(
        "no sigan mandando",
        r"\bno (?:(?:me|nos) )?(?:sigan|sigas|siga) (?:mandando|enviando|escribiendo|contactando)\b",
        negatable=False,
    ),
    _phrase(
        "no enviarme mas",
        rf"\bno (?:enviar|mandar|escribir|contactar)(?:me|nos)? (?:mas|nada|ningun\w*|{_MESSAGES})\b",
        negatable=False,
    ),
    _phrase(
        "paren con los mensajes",
        r"\b(?:paren|para|pare|parem|basta)(?: ya| ja)? co[mn] "
        rf"(?:los |las |tus |sus |estos |esos |as |os |essas |esses )?{_MESSAGES}\b",
    ),
    _phrase(
        "dejen de escribir",
        r"\b(?:dejen|deja|dejes|dejan|dejar|paren|pare|para|parar|paran)(?: ya)? de (?:escribir|mandar|enviar|contactar"
        r"|molestar|llamar|mensajear|llenar)(?:me|nos)?\b",
    ),
    _phrase(
        "darme de baja",
        r"\b(?:(?:dar|da|de|den|doy|damos|dame|deme|denme|darme|darnos|dennos)(?:me|nos)? de baja"
        r"|(?:quiero|queremos|solicito|pido) (?:la )?baja)\b",
        course_sensitive=True,
    ),
    _phrase("baja de la lista", rf"\bbaja (?:de|en) (?:la |los |las |el )?(?:lista|difusion|{_MESSAGES})\b"),
    _phrase(
        "cancelar suscripcion",
        r"\bcancel\w* (?:(?:mi|la|su|my|the) )?(?:suscripcion|subscription)\b",
        course_sensitive=True,
    ),
    _phrase("desuscribir", r"\bdesuscrib\w*\b"),
    _phrase(
        "sacar de la lista",
        r"\b(?:sac|saqu|quit|borr|elimin)\w* (?:me |nos )?(?:de )?(?:la |su |tu |sus |esta |este |esa |mi )?"
        r"(?:lista|listas|base de datos|difusion|contactos)\b",
    ),
    _phrase(
        "borren mi numero",
        r"\b(?:borr|elimin|quit)\w* (?:mi|mis|este) (?:numero|contacto|correo|datos|telefono|celular|email)\b",
    ),
    _phrase(
        "no quiero recibir",
        rf"\bno (?:quiero|deseo|queremos) (?:recibir (?:mas |ningun\w* |sus |tus |los |las |estos |estas |esos |esas )*"
        rf"|mas ){_MESSAGES}\b",
        negatable=False,
    ),
    _phrase("no quiero recibir nada", r"\bno (?:quiero|deseo|queremos) recibir nada\b", negatable=False),
    _phrase(
        "no quiero estar en la lista",
        r"\bno (?:quiero|deseo|queremos) (?:estar|seguir|aparecer) en (?:su |tu |la |sus |esta |esa )?"
        r"(?:lista|listas|base de datos|difusion)\b",
        negatable=False,
    ),
    _phrase(
        "no quiero que me escriban",
        r"\bno (?:quiero|deseo|queremos) que (?:me|nos) (?:sigan |vuelvan a )?(?:escrib|mand|envi|contact)\w*\b",
        negatable=False,
    ),
    _phrase("basta de mensajes", rf"\b(?:basta|no mas|chega|nada|sem mais) (?:de )?{_MESSAGES}\b"),
    _phrase("no autorizo", r"\bnao autorizo\b|\bno autorizo\b", negatable=False),
    _phrase("dejenme en paz", r"\b(?:dejenme|dejame|dejeme|me deixem?|me deixe|me deixa) e[nm] paz\b"),
    # Portuguese
    _phrase(
        "parem de mandar",
        r"\b(?:parem|pare|para|parar|param) (?:de |com )(?:me )?(?:mandar|enviar|mandando|enviando|encher"
        r"|perturbar|escrever|ligar|chamar|o spam|as mensage\w*|os emails)\b",
    ),
    _phrase(
        "nao me mandem",
        r"\bnao (?:me )?(?:mande|mandem|manda|mandarem|envie|enviem|envia|enviarem|escreva|escrevam|chame|chamem|liguem"
        r"|perturbe"
        rf"|perturbem)(?: me)? (?:mais|nada|{_MESSAGES})\b",
        negatable=False,
    ),
    _phrase(
        "nao quero receber",
        r"\bnao (?:quero|queremos) (?:mais receber|receber mais|receber|mais) (?:mais )?"
        rf"(?:nenhuma? |essas |esses |suas )?(?:{_MESSAGES}|isso|contato)\b",
        negatable=False,
    ),
    _phrase(
        "me tira da lista",
        r"\b(?:tira|tire|tirem|remove|remova|removam|exclui|exclua|excluam|apaga|apague|apaguem|sair|removid[oa]s?"
        r"|excluid[oa]s?)\b"
        r"(?: \w+){0,3} (?:da|dessa|desta|de sua|da sua|desse|deste|do) (?:\w+ )?(?:lista|transmissao|cadastro"
        r"|base de dados|grupo de transmissao)\b",
    ),
    _phrase(
        "tira meu numero",
        r"\b(?:tira|tire|tirem|remove|remova|removam|exclui|exclua|excluam|apaga|apague|apaguem) "
        r"(?:o |meu |meus |esse |este )(?:numero|contato|dados|email|cadastro|telefone)\b",
    ),
    _phrase("descadastrar", r"\bdescadastr\w*\b"),
    _phrase("nao quero receber nada", r"\bnao (?:quero|queremos) (?:mais )?receber (?:mais )?nada\b", negatable=False),
    _phrase(
        "nunca mais me mandem",
        r"\bnunca (?:mais|mas) (?:me |nos )?(?:mand|envi|escrev|escrib|contat|contact)\w*\b",
        negatable=False,
    ),
    _phrase("parar de receber", r"\b(?:parar|deixar|dejar) de (?:receber|recibir)\b"),
    _phrase("nao entrem em contato", r"\bnao (?:me )?(?:entrem|entre) (?:mais )?em contato\b", negatable=False),
    _phrase(
        "cancelar mensagens",
        rf"\bcancel\w* (?:as |os |los |las |the |my |mis |minhas |todas as |todos los )?{_MESSAGES}\b",
    ),
    _phrase("cancelar envio", rf"\bcancel\w* o (?:recebimento|envio) (?:de )?{_MESSAGES}\b"),
)

_UPPERCASE_STOP = re.compile(r"\bSTOP\b")
_TOKEN = re.compile(r"[a-z0-9]+|[.,;:!?¿¡]")
_CLAUSE_BREAK = frozenset(".,;:!?¿¡")


def normalize_for_opt_out(text: str) -> str:
    """Lowercase, strip accents and apostrophes, squeeze stretched letters, keep clause punctuation."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = folded.replace("'", "").replace("’", "")
    folded = re.sub(r"([a-z])\1{2,}", r"\1", folded)
    return " ".join(_TOKEN.findall(folded))


def _negated(normalized: str, start: int) -> bool:
    before = normalized[:start].split()
    window: list[str] = []
    for token in reversed(before):
        if token in _CLAUSE_BREAK or len(window) == 3:
            break
        window.append(token)
    return any(token in _NEGATIONS for token in window)


def _names_a_course(normalized: str, end: int) -> bool:
    after = " ".join(token for token in normalized[end:].split()[:6] if token not in _CLAUSE_BREAK)
    return bool(_COURSE_WORDS.search(after)) and not _MESSAGING_WORDS.search(after)


def opt_out_rule(text: str) -> str | None:
    """The name of the opt-out rule ``text`` matches (for the audit log), or None."""
    normalized = normalize_for_opt_out(text)
    words = [token for token in normalized.split() if token not in _CLAUSE_BREAK]
    core = " ".join(word for word in words if word not in _FILLERS)
    if core in _WHOLE_MESSAGE_KEYWORDS:
        return f"keyword: {core}"
    if _UPPERCASE_STOP.search(text):
        return "keyword: STOP"
    for phrase in _PHRASES:
        for match in phrase.pattern.finditer(normalized):
            if phrase.negatable and _negated(normalized, match.start()):
                continue
            if phrase.course_sensitive and _names_a_course(normalized, match.end()):
                continue
            return f"phrase: {phrase.name}"
    return None


def is_opt_out(text: str) -> bool:
    """True when ``text`` asks us to stop messaging (keyword or phrase, any of es/pt/en)."""
    return opt_out_rule(text) is not None
