"""The local provider: a calibrated linear model over normalised text, loaded once per process, hot-reloaded.

Features are word n-grams and character n-grams over `normalize()`d text plus a small block of hand-made rule
features (question form, suggestion cues, negation, irony, spam cues...). Character n-grams and rule features
carry most of the generalisation to writers the training data never saw; word n-grams add the vocabulary.
A few high-precision override rules catch spam that is obvious to a human whatever the model says.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

from app.classifier.base import CATEGORIES, Classification, Tag
from app.classifier.normalize import EMO_DOUBT, EMO_IRONY, EMO_NEG, EMO_OTHER, EMO_POS, LAUGH, normalize_many

log = logging.getLogger(__name__)

ACTIVE_MARKER = "active.json"
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
# Confidence reported when an override rule decides: the rules are written to be near-certain.
OVERRIDE_CONFIDENCE = 0.99

# --------------------------------------------------------------------------------------------------------------
# Rule features. Lexicons are matched on normalised tokens (lowercase, no accents). Prefix lexicons catch
# inflections and typos of one stem ("decepcion" -> decepcionou/decepcionante) without a stemmer.
# --------------------------------------------------------------------------------------------------------------

_NEGATIONS = frozenset(
    "nao nunca nem jamais nada ninguem nenhum nenhuma not never no dont doesnt didnt isnt wasnt cant wont aint "
    "tampoco ni".split()
)
_QUESTION_WORDS = frozenset(
    "quando qual quais onde aonde quem como quanto quantos quantas cade porque when where who what how which "
    "why cuando donde cual quien cuanto".split()
)
_IMPERATIVES = frozenset(
    "coloca coloquem coloque bota botem bote lanca lancem lance faca facam faz tragam traz traga adiciona "
    "adicionem adicione volta voltem tira tirem incluam inclui inclua cria criem crie libera liberem libere abre "
    "abram abra chama chamem grava gravem vendam vende mudem muda mude melhorem melhora arrumem arruma consertem "
    "conserta corrijam corrige diminuam diminui aumentem aumenta reduzam disponibilizem disponibiliza passem "
    "venham toquem divulguem publiquem contratem sinalizem proibam permitam deixem deixa deixe tenham "
    "add bring make release fix put stream pongan hagan traigan vengan agreguen".split()
)
_PRAISE_PREFIXES = (
    "hino", "pedrada", "perfeit", "maravilh", "lind", "incrivel", "sensaciona", "espetacula", "amei", "amo",
    "adoro", "adorei", "melhor", "arrepi", "obra", "genio", "genial", "brab", "foda", "top", "chorei", "viciad",
    "impecave", "masterpiece", "amazing", "love", "best", "awesome", "beautiful", "goat", "banger", "fire",
    "hermos", "increible", "encanta", "excelente", "otim", "bom", "boa", "curti", "gostei", "demais", "massa",
    "fantastic", "emocion", "orgulho", "obrigad", "parabens", "incredible", "great", "perfect", "brilliant",
    "magnific", "divin", "estupend", "absurd", "insan", "surreal", "classic", "epic", "apaixon",
)
_CRITIC_PREFIXES = (
    "pior", "horrivel", "horrive", "lixo", "ruim", "decepc", "chato", "chata", "fraco", "fraca", "vergonh",
    "ridicul", "pessim", "porcaria", "merda", "bosta", "odeio", "odiei", "caro", "cara", "cansativ", "enjoativ",
    "mediocr", "generic", "desafin", "travand", "trava", "bug", "lent", "worst", "terrible", "awful", "boring",
    "trash", "garbage", "disappoint", "overrated", "horrible", "aburrid", "basura", "peor", "sem graca", "mal",
    "piorou", "desrespeit", "abusiv", "roubo", "palhacada", "descaso", "falta", "faltou", "cade", "problema",
    "erro", "cortaram", "estragou", "estragad", "superestimad", "forcad", "insuportav", "irritant", "plagio",
    "copia", "igual", "repetitiv", "atras", "cancel", "reclam", "sad", "bad", "hate", "sucks", "annoying",
    "broken", "buggy", "crash", "fechando", "caindo", "caiu", "abafad", "estourad", "baixo", "alto",
)
_SPAM_WORDS = frozenset(
    "sigam siga segue segue inscreva inscrevam inscreve inscrevam canal perfil bio link links clique clica "
    "acesse acessem confira visite ganhe ganhar renda extra pix zap whatsapp wpp telegram bitcoin cripto crypto "
    "criptomoeda investimento investir lucro lucre aposta apostas bet bets cassino casino sorteio giveaway "
    "promocao promo desconto cupom gratis free follow subscribe seguidores curtidas likes views divulga "
    "divulgacao dm direct pv cadastre cadastro renda trabalhe ganho ganhos forex trader robo compre comprar "
    "vendo loja frete oferta ofertas".split()
)
# Promotion words strong enough that, next to a link or handle, the comment is an ad whatever else it says.
_PROMO_WORDS = frozenset(
    "sigam siga inscreva inscrevam inscreve canal bio clique clica ganhe renda pix zap whatsapp wpp telegram "
    "bitcoin cripto crypto criptomoeda aposta apostas bet bets cassino casino sorteio giveaway cupom follow "
    "subscribe seguidores curtidas lucro forex trader promocao desconto oferta".split()
)
# "First!" comments, as the whole text once emoji, laughter and punctuation are gone.
_FIRST_COMMENT = frozenset(
    {"primeiro", "primeira", "first", "primero", "fui o primeiro", "fui a primeira", "cheguei primeiro",
     "primeiro comentario", "primeiro a comentar", "primeira a comentar", "first comment", "primeiro aqui",
     "primeira aqui", "quem e o primeiro", "sou o primeiro", "sou a primeira", "eu primeiro", "first again",
     "primeiro de novo", "primeiro a ver", "primeira a ver", "primeiro a ouvir", "primeira a ouvir"}
)

_SUGGEST_RE = re.compile(
    r"\b(?:deviam|deveriam|devia|deveria|podiam|poderiam|podia|poderia|seria (?:bom|top|legal|otimo|incrivel|massa"
    r"|interessante|perfeito|bacana|lindo|show|demais|muito|uma boa|bem|daora|maneiro|foda|util|melhor|ideal)|que tal"
    r"|por ?que nao|sugiro|sugestao|sugestoes|fica a dica|queria que|quero que|gostaria que|gostaria de ver"
    r"|bem que (?:podia|podiam|poderia|poderiam)|tomara que|se (?:tivesse|houvesse|pudesse|tivessem|colocassem"
    r"|lancassem|fizessem|voltasse|voltassem)|precisa(?:m|va|vam)? (?:de )?(?:ter|colocar|melhorar|lancar|fazer"
    r"|mudar|voltar|de um|de uma)|falta(?:va)? (?:so )?(?:um|uma|ter)|should|would be (?:nice|great|cool|awesome"
    r"|amazing|better|good)|please (?:add|make|bring|release|fix|put|do|consider)|could you|why not|i wish|it would"
    r"|deberian|podrian|seria (?:genial|bueno|increible)|ojala|estaria (?:genial|bien|bueno)|dava (?:para|pra)"
    r"|vale a pena (?:lancar|fazer)|fariam|faria sentido|na proxima)\b"
)
_INFO_RE = re.compile(
    r"\b(?:alguem sabe|alguem ai|alguem pode|alguem tem|sabe(?:m)? (?:se|me dizer|informar|dizer)|gostaria de saber"
    r"|queria saber|quero saber|duvida|pergunta|me (?:explica|explicam|tira|ajuda|ajudem|diz|dizem|fala|falem)"
    r"|alguem me|anyone know|does anyone|can someone|do you know|is there|alguien sabe|tem previsao|ja tem data"
    r"|vai ter|vao ter|vai sair|vai rolar|ja saiu|e verdade|sera que|tem como|como (?:faco|faz|que faz|eu)"
    r"|onde (?:compro|encontro|acho|vende|assisto|ouco)|que horas|que dia|qual (?:o|a|e) (?:nome|data|horario|valor"
    r"|preco|musica|link)|quanto (?:custa|tempo|e))\b"
)
_QUESTION_START_RE = re.compile(
    r"^(?:e |mas |gente |galera |pessoal |ai |oi |ola |hey |ei |bom dia |boa tarde |boa noite |_user_ )*"
    r"(?:quando|qual|quais|onde|aonde|quem|como|quanto|quantos|quantas|cade|sera|tem|vai|vao|ja|sabe|sabem|existe"
    r"|pode|posso|podem|da|o que|que|e |alguem|when|where|who|what|how|which|is|are|will|does|do|did|can|any"
    r"|cuando|donde|cual|quien|cuanto|hay|se puede)\b"
)
_IRONY_RE = re.compile(
    r"\b(?:so que nao|sqn|aham|ta bom ne|claro que sim|nossa que (?:original|criativo|novidade|surpresa|inovador)"
    r"|que novidade|obrigad[oa] por nada|parabens (?:pela|pelo|aos|a) (?:incompetencia|bagunca|desorganizacao)"
    r"|parabens (?:ein|hein)|amei (?:so que nao|#sqn)|adorei (?:pagar|esperar|ficar)|que maravilha (?:de|pagar|ficar)"
    r"|genial (?:ne|hein)|muito obrigad[oa] (?:mesmo )?(?:por|pela|pelo) (?:nada|estragar|tirar)|yeah right"
    r"|great job (?:ruining|breaking)|sure jan|mais (?:uma|um) igual)\b"
)
_SPAM_PHRASE_RE = re.compile(
    r"\b(?:ganhe _dinheiro_|ganhar _dinheiro_|ganhe dinheiro|ganhar dinheiro|renda extra|trabalh\w* de casa"
    r"|chama no (?:zap|whats|whatsapp|pv|direct|dm|privado)|inscreva ?-? ?se|se inscrev\w*|sigam (?:o )?(?:meu|minha|nosso|nossa|la|o perfil)"
    r"|segue (?:meu|minha|nosso|nossa|la|de volta)|me sigam|me segue|sigo de volta|link na bio|link no perfil"
    r"|(?:compre|comprar|compra) (?:seguidores|curtidas|views|likes)|follow (?:me|my|back)|subscribe to"
    r"|check out my|visit my|meu canal|my channel|confira (?:o|meu|nosso)|acesse (?:o|meu|nosso|ja|agora)"
    r"|clique (?:no|aqui|agora)|click (?:here|the link)|cadastre-?se|codigo promocional|bonus de cadastro"
    r"|sorteio|giveaway|investimento garantido|lucro garantido|quem (?:ta|esta|estiver) (?:aqui|ouvindo|vendo)"
    r" (?:em|no ano de) _ano_|who(?:s| is) (?:here|listening) in _ano_|da (?:um )?like se|deixa (?:o|seu) like"
    r"|like (?:se|if)|curte se|comenta se)\b"
)
# Self-promotion next to a link: "ouçam meu som _url_".
_OWN_WORK_RE = re.compile(r"\b(?:meu|minha|nosso|nossa|my|our) (?:som|canal|trabalho|beat|beats|clipe|perfil|insta"
                          r"|instagram|tiktok|musica|banda|loja|site|page|channel|music|mixtape|ep|album)\b")
_CONTRAST_RE = re.compile(r"\b(?:mas|porem|so que|entretanto|contudo|but|however|pero|although|apesar)\b")
_MORE_RE = re.compile(r"\b(?:quero mais|queremos mais|mais (?:disso|assim|musicas assim)|parte _num_|parte 2"
                      r"|lanca logo|ansios\w*|nao vejo a hora|cant wait|more like this)\b")
_SOFT_CRITIC_RE = re.compile(
    r"\b(?:esperava (?:mais|bem mais|muito mais)|podia ser melhor|poderia ser melhor|deixou a desejar"
    r"|nao (?:gostei|curti|gosto|curto|funciona|presta|da|consigo|aguento|vale)|ninguem (?:testa|merece|aguenta)"
    r"|serio (?:que|isso|mesmo)|que (?:vergonha|absurdo|decepcao|palhacada|raiva|saco|preguica)|pra que"
    r"|nunca mais|de novo\b.*\?|sempre a mesma|toda vez|perdi (?:meu|o) tempo|expected (?:more|better))\b"
)
_GIBBERISH_RE = re.compile(r"[bcdfghjklmnpqrstvwxz]{5,}")
_ELONGATED_RE = re.compile(r"([A-Za-zÀ-ÿ])\1{2,}")

RULE_FEATURE_NAMES: tuple[str, ...] = (
    "has_question_mark", "ends_with_question", "question_start", "question_word", "info_seeking", "suggestion_cue",
    "imperative_start", "imperative_any", "please", "negation", "praise_words", "critic_words", "soft_critic",
    "irony", "emo_pos", "emo_neg", "emo_irony", "emo_doubt", "emo_other", "emoji_only", "laugh", "url",
    "handle", "email", "spam_words", "spam_phrase", "first_comment", "gibberish", "caps_ratio", "exclamations",
    "elongated", "contrast", "wants_more", "money", "log_length", "short_text", "no_letters",
)
_INDEX = {name: i for i, name in enumerate(RULE_FEATURE_NAMES)}


def _tokens(norm: str) -> list[str]:
    return norm.split()


def rule_features(raw: str, norm: str) -> list[float]:
    """Hand-made features for one comment, each scaled to roughly [0, 1]."""
    f = [0.0] * len(RULE_FEATURE_NAMES)
    toks = _tokens(norm)
    words = [t for t in toks if t[0].isalpha()]
    n_tok = max(len(toks), 1)

    f[_INDEX["has_question_mark"]] = 1.0 if "?" in norm else 0.0
    tail = [t for t in toks if not t.startswith("_emo") and t not in ("_risos_",) and not _is_emoji(t)]
    f[_INDEX["ends_with_question"]] = 1.0 if tail and "?" in tail[-1] else 0.0
    f[_INDEX["question_start"]] = 1.0 if _QUESTION_START_RE.search(norm) else 0.0
    f[_INDEX["info_seeking"]] = 1.0 if _INFO_RE.search(norm) else 0.0
    f[_INDEX["suggestion_cue"]] = 1.0 if _SUGGEST_RE.search(norm) else 0.0
    f[_INDEX["irony"]] = 1.0 if _IRONY_RE.search(norm) else 0.0
    f[_INDEX["soft_critic"]] = 1.0 if _SOFT_CRITIC_RE.search(norm) else 0.0
    f[_INDEX["spam_phrase"]] = 1.0 if _SPAM_PHRASE_RE.search(norm) else 0.0
    f[_INDEX["contrast"]] = 1.0 if _CONTRAST_RE.search(norm) else 0.0
    f[_INDEX["wants_more"]] = 1.0 if _MORE_RE.search(norm) else 0.0

    qword = neg = praise = critic = spam = imper = 0
    emo = {EMO_POS: 0, EMO_NEG: 0, EMO_IRONY: 0, EMO_DOUBT: 0, EMO_OTHER: 0}
    laugh = 0
    for i, tok in enumerate(toks):
        if tok in emo:
            emo[tok] += 1
            continue
        if tok == LAUGH:
            laugh += 1
            continue
        if tok in _QUESTION_WORDS:
            qword += 1
        if tok in _NEGATIONS:
            neg += 1
        if tok in _SPAM_WORDS:
            spam += 1
        if tok in _IMPERATIVES:
            imper += 1
            if i == 0 or toks[i - 1] in (",", "e", "mas", "favor", "!", ".", "and", "please", "so"):
                f[_INDEX["imperative_start"]] = 1.0
        if tok.startswith(_PRAISE_PREFIXES):
            praise += 1
        if tok.startswith(_CRITIC_PREFIXES):
            critic += 1
    f[_INDEX["question_word"]] = min(qword, 2) / 2
    f[_INDEX["negation"]] = min(neg, 3) / 3
    f[_INDEX["praise_words"]] = min(praise, 3) / 3
    f[_INDEX["critic_words"]] = min(critic, 3) / 3
    f[_INDEX["spam_words"]] = min(spam, 3) / 3
    f[_INDEX["imperative_any"]] = 1.0 if imper else 0.0
    f[_INDEX["please"]] = 1.0 if ("por favor" in norm or "please" in norm or "porfa" in norm) else 0.0
    f[_INDEX["emo_pos"]] = min(emo[EMO_POS], 3) / 3
    f[_INDEX["emo_neg"]] = min(emo[EMO_NEG], 3) / 3
    f[_INDEX["emo_irony"]] = 1.0 if emo[EMO_IRONY] else 0.0
    f[_INDEX["emo_doubt"]] = 1.0 if emo[EMO_DOUBT] else 0.0
    f[_INDEX["emo_other"]] = min(emo[EMO_OTHER], 3) / 3
    n_emoji = sum(emo.values())
    f[_INDEX["emoji_only"]] = 1.0 if n_emoji and not words else 0.0
    f[_INDEX["laugh"]] = 1.0 if laugh else 0.0
    f[_INDEX["url"]] = 1.0 if "_url_" in norm else 0.0
    f[_INDEX["handle"]] = 1.0 if "_user_" in norm else 0.0
    f[_INDEX["email"]] = 1.0 if "_email_" in norm else 0.0
    f[_INDEX["money"]] = 1.0 if "_dinheiro_" in norm else 0.0
    f[_INDEX["first_comment"]] = 1.0 if _is_first_comment(toks) else 0.0
    gib = sum(1 for w in words if not w.startswith("_") and len(w) >= 5 and _GIBBERISH_RE.search(w))
    f[_INDEX["gibberish"]] = min(gib, 2) / 2

    letters = [c for c in raw if c.isalpha()]
    if letters:
        f[_INDEX["caps_ratio"]] = sum(1 for c in letters if c.isupper()) / len(letters) if len(letters) >= 4 else 0.0
    else:
        f[_INDEX["no_letters"]] = 1.0
    f[_INDEX["exclamations"]] = min(raw.count("!"), 3) / 3
    f[_INDEX["elongated"]] = 1.0 if _ELONGATED_RE.search(raw) else 0.0
    f[_INDEX["log_length"]] = min(math.log1p(len(raw)) / 6.0, 1.5)
    f[_INDEX["short_text"]] = 1.0 if n_tok <= 3 else 0.0
    return f


def _is_emoji(tok: str) -> bool:
    return len(tok) <= 2 and not tok.isalnum() and ord(tok[0]) >= 0x2300


def _is_first_comment(toks: list[str]) -> bool:
    core = " ".join(t for t in toks if t[0].isalpha() and t != LAUGH)
    return core in _FIRST_COMMENT


def spam_override(norm: str) -> bool:
    """High-precision SPAM rule: a link/handle with promotion words, explicit promo phrases, or "primeiro!"."""
    toks = _tokens(norm)
    if not toks:
        return False
    has_link = "_url_" in norm or "_user_" in norm or "_email_" in norm
    promo = sum(1 for t in toks if t in _PROMO_WORDS)
    if has_link and (promo >= 1 or _SPAM_PHRASE_RE.search(norm) or _OWN_WORK_RE.search(norm)):
        return True
    if _is_first_comment(toks):
        return True
    # Money-making pitches need two independent signals: a promo phrase and a promo word or money amount.
    return bool(_SPAM_PHRASE_RE.search(norm)) and (promo >= 2 or "_dinheiro_" in norm) and "?" not in norm


# --------------------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------------------


class CommentFeaturizer(TransformerMixin, BaseEstimator):
    """Word n-grams + char n-grams over normalised text + rule features, as one sparse matrix."""

    def __init__(
        self,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (2, 5),
        word_min_df: int = 1,
        char_min_df: int = 2,
        use_word: bool = True,
        use_char: bool = True,
        use_rules: bool = True,
        rule_weight: float = 1.0,
        char_analyzer: str = "char_wb",
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.word_min_df = word_min_df
        self.char_min_df = char_min_df
        self.use_word = use_word
        self.use_char = use_char
        self.use_rules = use_rules
        self.rule_weight = rule_weight
        self.char_analyzer = char_analyzer

    def _vectorizers(self) -> list[TfidfVectorizer]:
        vecs = []
        if self.use_word:
            vecs.append(TfidfVectorizer(
                analyzer="word", token_pattern=r"[^\s,.;:()\"]+", lowercase=False, ngram_range=self.word_ngram_range,
                min_df=self.word_min_df, sublinear_tf=True, dtype=np.float32,
            ))
        if self.use_char:
            vecs.append(TfidfVectorizer(
                analyzer=self.char_analyzer, lowercase=False, ngram_range=self.char_ngram_range,
                min_df=self.char_min_df, sublinear_tf=True, dtype=np.float32,
            ))
        return vecs

    def fit(self, texts: Sequence[str], y: Any = None) -> CommentFeaturizer:
        norms = normalize_many(list(texts))
        self.vectorizers_ = [v.fit(norms) for v in self._vectorizers()]
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        texts = list(texts)
        norms = normalize_many(texts)
        blocks = [v.transform(norms) for v in self.vectorizers_]
        if self.use_rules:
            rules = np.asarray([rule_features(r, n) for r, n in zip(texts, norms, strict=True)], dtype=np.float32)
            blocks.append(sp.csr_matrix(rules.reshape(len(texts), len(RULE_FEATURE_NAMES)) * self.rule_weight))
        return sp.hstack(blocks, format="csr", dtype=np.float32)


@dataclass
class CommentModel:
    """A trained artifact: the fitted featurizer + calibrated classifier, with its category order."""

    featurizer: CommentFeaturizer
    classifier: Any
    categories: tuple[str, ...] = CATEGORIES
    params: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities (n, 5) in `categories` order, with override rules applied."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.categories)))
        X = self.featurizer.transform(texts)
        raw = self.classifier.predict_proba(X)
        # The classifier's classes_ are sorted strings; reorder them into the wire order once per call.
        order = [list(self.classifier.classes_).index(c) for c in self.categories]
        probs = np.asarray(raw[:, order], dtype=np.float64)
        spam = self.categories.index("SPAM")
        for i, norm in enumerate(normalize_many(texts)):
            if spam_override(norm):
                probs[i] = (1.0 - OVERRIDE_CONFIDENCE) / (len(self.categories) - 1)
                probs[i, spam] = OVERRIDE_CONFIDENCE
        return probs


# --------------------------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Loaded:
    version: str
    model: CommentModel
    marker_stamp: tuple[int, int]


def read_active_version(model_dir: Path) -> str | None:
    """The version named by `active.json`, or None when no model was activated yet."""
    try:
        data = json.loads((model_dir / ACTIVE_MARKER).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    version = data.get("version")
    return version if isinstance(version, str) and version else None


def _marker_stamp(model_dir: Path) -> tuple[int, int]:
    try:
        st = (model_dir / ACTIVE_MARKER).stat()
    except FileNotFoundError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_ino)  # rename() gives a new inode even within one mtime tick


def load_model(model_dir: Path, version: str) -> CommentModel:
    """Load one version's artifact."""
    model = joblib.load(model_dir / version / MODEL_FILE)
    if not isinstance(model, CommentModel):
        raise TypeError(f"{model_dir / version} does not hold a CommentModel")
    return model


class LocalClassifier:
    """The `local` provider; thread-safe; checks `active.json` at most every `reload_interval` seconds."""

    name = "local"

    def __init__(self, model_dir: Path, tag_extractor: Any | None = None, reload_interval: float = 10.0) -> None:
        self.model_dir = Path(model_dir)
        self.tag_extractor = tag_extractor
        self.reload_interval = reload_interval
        self._reload_lock = threading.Lock()
        self._last_check = time.monotonic()
        version = read_active_version(self.model_dir)
        if version is None:
            raise FileNotFoundError(f"no active model in {self.model_dir}")
        stamp = _marker_stamp(self.model_dir)
        self._loaded = _Loaded(version, load_model(self.model_dir, version), stamp)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LocalClassifier:
        """Load the active model under MODEL_DIR, training and activating one first when there is none."""
        from app.classifier.training import ensure_active_model  # lazy: training pulls in model selection code

        model_dir = Path(config["MODEL_DIR"])
        ensure_active_model(config)
        return cls(
            model_dir,
            tag_extractor=_load_tag_extractor(config),
            reload_interval=float(config.get("MODEL_RELOAD_SECONDS", 10.0)),
        )

    @property
    def version(self) -> str:
        return self._loaded.version

    @property
    def modelo(self) -> str:
        return f"local:{self._loaded.version}"

    def maybe_reload(self, force: bool = False) -> bool:
        """Swap in a newly activated version; cheap (a stat) and rate-limited. Returns True when it swapped."""
        now = time.monotonic()
        if not force and now - self._last_check < self.reload_interval:
            return False
        # Non-blocking: while one thread loads a new version the others keep serving the current one.
        if not self._reload_lock.acquire(blocking=force):
            return False
        try:
            self._last_check = now
            stamp = _marker_stamp(self.model_dir)
            current = self._loaded
            if stamp == current.marker_stamp:
                return False
            version = read_active_version(self.model_dir)
            if version is None or version == current.version:
                self._loaded = _Loaded(current.version, current.model, stamp)
                return False
            try:
                model = load_model(self.model_dir, version)
            except Exception:  # a half-copied or incompatible artifact must not take the service down
                log.exception("could not load model version %s; keeping %s", version, current.version)
                self._loaded = _Loaded(current.version, current.model, stamp)
                return False
            self._loaded = _Loaded(version, model, stamp)  # one attribute store: atomic for readers
            log.info("model version %s activated (was %s)", version, current.version)
            return True
        finally:
            self._reload_lock.release()

    def predict_proba(self, texts: Sequence[str]) -> tuple[str, np.ndarray]:
        """(version, probabilities in CATEGORIES order) for a batch, using one model version throughout."""
        self.maybe_reload()
        loaded = self._loaded
        return loaded.version, loaded.model.predict_proba(texts)

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        """Classify a batch; one result per text, in input order."""
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        if not texts:
            return []
        version, probs = self.predict_proba(texts)
        best = probs.argmax(axis=1)
        tags = self._tags(texts)
        modelo = f"local:{version}"
        cats = CATEGORIES
        return [
            Classification(categoria=cats[k], confianca=round(float(probs[i, k]), 4), tags=tags[i], modelo=modelo)
            for i, k in enumerate(best)
        ]

    def _tags(self, texts: list[str]) -> list[list[Tag]]:
        if self.tag_extractor is None:
            return [[] for _ in texts]
        try:
            return [list(t) for t in self.tag_extractor.extract_many(texts)]
        except Exception:  # tags are an enrichment; a broken taxonomy must not block classification
            log.exception("tag extraction failed; returning no tags")
            return [[] for _ in texts]


def _load_tag_extractor(config: dict[str, Any]) -> Any | None:
    """TagExtractor.load() when the tags module exists (written in parallel); None otherwise."""
    if os.environ.get("ALUMUSIC_DISABLE_TAGS") == "1" or config.get("DISABLE_TAGS"):
        return None
    try:
        from app.classifier.tags import TagExtractor  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.warning("app.classifier.tags not available; classifying without tags")
        return None
    try:
        return TagExtractor.load()
    except Exception:
        log.exception("could not load the tag taxonomy; classifying without tags")
        return None
