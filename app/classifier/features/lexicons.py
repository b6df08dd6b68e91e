"""The word lists behind the rule features: lexicons on normalised tokens (lowercase, no accents) and phrases.

Prefix lexicons catch inflections and typos of one stem ("decepc" -> decepcionou/decepcionante); they are indexed by
their first three letters so that one pass over the tokens tests each token against a handful of prefixes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


NEGATIONS = _wordset(
    "nao nunca nem jamais nada ninguem nenhum nenhuma not never dont doesnt didnt isnt wasnt cant wont aint tampoco ni"
)
QUESTION_WORDS = _wordset(
    "quando qual quais onde aonde quem como quanto quantos quantas cade when where who what how which why cuando "
    "donde cual quien cuanto"
)
QUESTION_OPENERS = _wordset(
    "quando qual quais onde aonde quem como quanto quantos quantas cade sera tem vai vao ja sabe sabem existe pode "
    "posso podem alguem when where who what how which is are will does do did can any anyone cuando donde cual "
    "quien cuanto hay"
)
# Words that often open a comment before the question itself ("gente, quando sai...").
OPENER_FILLERS = _wordset("e mas gente galera pessoal ai oi ola hey ei mano _user_ , ! bom dia boa tarde noite")
IMPERATIVES = _wordset(
    "coloca coloquem coloque bota botem bote lanca lancem lance faca facam faz tragam traz traga adiciona adicionem "
    "adicione volta voltem tira tirem incluam inclui inclua cria criem crie libera liberem libere abre abram abra "
    "chama chamem grava gravem vendam mudem muda mude melhorem melhora arrumem arruma consertem conserta corrijam "
    "corrige diminuam diminui aumentem aumenta reduzam disponibilizem disponibiliza passem venham toquem divulguem "
    "publiquem contratem sinalizem proibam permitam deixem deixa deixe tenham mostrem mostra marquem lembrem "
    "regravem considerem add bring make release fix put stream pongan hagan traigan vengan agreguen"
)
PRAISE_PREFIXES = (
    "hino",
    "pedrada",
    "perfeit",
    "maravilh",
    "lind",
    "incrivel",
    "sensaciona",
    "espetacula",
    "amei",
    "amo",
    "adoro",
    "adorei",
    "melhor",
    "arrepi",
    "obra",
    "genio",
    "genial",
    "brab",
    "foda",
    "top",
    "chorei",
    "viciad",
    "impecave",
    "masterpiece",
    "amazing",
    "love",
    "best",
    "awesome",
    "beautiful",
    "goat",
    "banger",
    "fire",
    "hermos",
    "increible",
    "encanta",
    "excelente",
    "otim",
    "bom",
    "boa",
    "curti",
    "gostei",
    "demais",
    "massa",
    "fantastic",
    "emocion",
    "orgulho",
    "obrigad",
    "parabens",
    "incredible",
    "great",
    "perfect",
    "brilliant",
    "magnific",
    "divin",
    "estupend",
    "absurd",
    "insan",
    "surreal",
    "classic",
    "epic",
    "apaixon",
    "saudade",
    "nostalgi",
    "respeito",
    "merecid",
    "talent",
    "voz",
    "gostos",
    "delicia",
    "deus",
    "ouro",
    "historic",
)
CRITIC_PREFIXES = (
    "pior",
    "horrivel",
    "horrive",
    "lixo",
    "ruim",
    "decepc",
    "chato",
    "chata",
    "fraco",
    "fraca",
    "vergonh",
    "ridicul",
    "pessim",
    "porcaria",
    "merda",
    "bosta",
    "odeio",
    "odiei",
    "caro",
    "cara",
    "cansativ",
    "enjoativ",
    "mediocr",
    "generic",
    "desafin",
    "travand",
    "trava",
    "bug",
    "lent",
    "worst",
    "terrible",
    "awful",
    "boring",
    "trash",
    "garbage",
    "disappoint",
    "overrated",
    "horrible",
    "aburrid",
    "basura",
    "peor",
    "mal",
    "piorou",
    "desrespeit",
    "abusiv",
    "roubo",
    "palhacada",
    "descaso",
    "falta",
    "faltou",
    "cade",
    "problema",
    "erro",
    "cortaram",
    "estragou",
    "estragad",
    "superestimad",
    "forcad",
    "insuportav",
    "irritant",
    "plagio",
    "copia",
    "igual",
    "repetitiv",
    "atras",
    "cancel",
    "reclam",
    "sad",
    "bad",
    "hate",
    "sucks",
    "annoying",
    "broken",
    "buggy",
    "crash",
    "fechando",
    "caindo",
    "caiu",
    "abafad",
    "estourad",
    "preguic",
    "aff",
    "affe",
    "cringe",
    "vergonha",
    "enrola",
    "enganac",
    "absurdo",
    "nunca",
    "perdi",
    "perdeu",
    "sumiu",
    "sumir",
    "pagar",
    "paguei",
    "cobra",
)

# What comments about the product talk about (music, shows, clips, the app). Spam is mostly "not about the
# content": a short excited line with no domain word reads very differently from one with "som" or "show" in it.
DOMAIN_PREFIXES = (
    "music",
    "musica",
    "som",
    "sons",
    "show",
    "album",
    "disco",
    "faixa",
    "clipe",
    "clip",
    "video",
    "letra",
    "refrao",
    "voz",
    "vocal",
    "cant",
    "banda",
    "artista",
    "beat",
    "batida",
    "ritmo",
    "melodia",
    "produc",
    "produtor",
    "mix",
    "master",
    "feat",
    "parceria",
    "turne",
    "ingresso",
    "palco",
    "festival",
    "setlist",
    "repertorio",
    "playlist",
    "app",
    "aplicativo",
    "plano",
    "assinatura",
    "audio",
    "volume",
    "fone",
    "vibe",
    "passinho",
    "danc",
    "coreograf",
    "hino",
    "single",
    "lancamento",
    "lanca",
    "capa",
    "vinil",
    "dvd",
    "live",
    "fas",
    "fan",
    "song",
    "track",
    "concert",
    "tour",
    "lyric",
    "voice",
    "cancion",
    "concierto",
    "toc",
    "guitarra",
    "bateria",
    "baixo",
    "piano",
    "violao",
    "solo",
    "acustic",
    "remix",
    "versao",
    "cover",
    "estreia",
    "ep",
    "cd",
    "estudio",
    "grav",
    "ouvi",
    "escut",
    "listen",
    "sing",
    "dj",
    "mc",
    "rap",
    "funk",
    "samba",
    "pagode",
    "forro",
    "sertanejo",
    "rock",
    "pop",
    "trap",
    "mpb",
    "gospel",
    "axe",
    "brega",
    "tecnobrega",
    "arrocha",
    "piseiro",
    "kpop",
    "k-pop",
)
# Inviting the artist somewhere ("vem pra Manaus", "volta logo pra Recife"): a wish about the content, not spam.
INVITE_VERBS = frozenset(
    {"vem", "venha", "venham", "volta", "voltem", "volte", "come", "ven", "vengan", "passa", "passem", "tragam", "traz"}
)


def _prefix_index(prefixes: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Prefixes grouped by their first 3 letters: one dict lookup per token instead of a scan of all prefixes."""
    index: dict[str, list[str]] = {}
    for prefix in prefixes:
        index.setdefault(prefix[:3], []).append(prefix)
    return {k: tuple(v) for k, v in index.items()}


DOMAIN_INDEX = _prefix_index([p for p in DOMAIN_PREFIXES if len(p) >= 3])
DOMAIN_SHORT = frozenset(p for p in DOMAIN_PREFIXES if len(p) < 3)
PRAISE_INDEX = _prefix_index(PRAISE_PREFIXES)
CRITIC_INDEX = _prefix_index(CRITIC_PREFIXES)
# Words whose presence reads as promotion or scam, whatever else the comment says.
SPAM_WORDS = _wordset(
    "sigam siga segue inscreva inscrevam inscreve inscreva-se canal perfil bio link links clique clica acesse "
    "acessem confira visite ganhe ganhar renda extra pix zap whatsapp wpp telegram bitcoin cripto crypto "
    "criptomoeda investimento investir lucro lucre aposta apostas bet bets cassino casino sorteio giveaway promocao "
    "promo desconto cupom gratis free follow subscribe seguidores curtidas likes views divulga divulgacao dm direct "
    "pv cadastre cadastro renda trabalhe ganho ganhos forex trader robo compre comprar vendo loja frete oferta "
    "ofertas insta instagram tiktok apk"
)
# Promotion words strong enough that, next to a link or handle, the comment is an ad whatever else it says.
PROMO_WORDS = _wordset(
    "sigam siga inscreva inscrevam inscreve inscreva-se canal bio clique clica ganhe renda pix zap whatsapp wpp "
    "telegram bitcoin cripto crypto criptomoeda aposta apostas bet bets cassino casino sorteio giveaway cupom "
    "follow subscribe seguidores curtidas lucro forex trader promocao desconto oferta"
)
# "First!" comments, as the whole text once emoji, laughter and punctuation are gone.
FIRST_COMMENT = frozenset(
    {
        "primeiro",
        "primeira",
        "first",
        "primero",
        "fui o primeiro",
        "fui a primeira",
        "cheguei primeiro",
        "primeiro comentario",
        "primeiro a comentar",
        "primeira a comentar",
        "first comment",
        "primeiro aqui",
        "primeira aqui",
        "quem e o primeiro",
        "sou o primeiro",
        "sou a primeira",
        "eu primeiro",
        "first again",
        "primeiro de novo",
        "primeiro a ver",
        "primeira a ver",
        "primeiro a ouvir",
        "primeira a ouvir",
    }
)


def _expand_phrase(pattern: str) -> list[str]:
    """'seria (bom|top)' -> ['seria bom', 'seria top']; an empty alternative makes a word optional."""
    m = re.search(r"\(([^()]*)\)", pattern)
    if not m:
        return [" ".join(pattern.split())]
    out = []
    for alt in m.group(1).split("|"):
        out.extend(_expand_phrase(pattern[: m.start()] + alt + pattern[m.end() :]))
    return out


class PhraseMatcher:
    """Finds multi-word cue phrases in a token list in one pass (a word ending in '*' matches as a prefix)."""

    def __init__(self, groups: dict[str, Sequence[str]]) -> None:
        self.names = tuple(groups)
        # Phrases are found by their first word, and most also by their second (a pair lookup instead of trying
        # every phrase that starts with "que" or "nao"); a second word that is a prefix ("se inscrev*") cannot be
        # looked up, so those phrases are tried one by one.
        self._single: dict[str, list[int]] = {}
        self._by_pair: dict[tuple[str, str], list[tuple[tuple[str, ...], int]]] = {}
        self._by_first: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for gi, name in enumerate(self.names):
            for pattern in groups[name]:
                for phrase in _expand_phrase(pattern):
                    words = tuple(phrase.split())
                    if len(words) == 1:
                        self._single.setdefault(words[0], []).append(gi)
                    elif words[1][-1] == "*":
                        self._by_first.setdefault(words[0], []).append((words[1:], gi))
                    else:
                        self._by_pair.setdefault(words[:2], []).append((words[2:], gi))
        self._firsts = frozenset(self._single) | {first for first, _ in self._by_pair} | frozenset(self._by_first)

    def match(self, toks: Sequence[str]) -> list[bool]:
        """Which groups occur in `toks`."""
        found = [False] * len(self.names)
        firsts = self._firsts.intersection(toks)
        if not firsts:
            return found
        n = len(toks)
        for i, tok in enumerate(toks):
            if tok not in firsts:
                continue
            for gi in self._single.get(tok, ()):
                found[gi] = True
            if i + 1 == n:
                continue
            for rest, gi in self._by_pair.get((tok, toks[i + 1]), ()):
                if not found[gi] and i + 1 + len(rest) < n and _words_match(rest, toks, i + 2):
                    found[gi] = True
            for rest, gi in self._by_first.get(tok, ()):
                if not found[gi] and i + len(rest) < n and _words_match(rest, toks, i + 1):
                    found[gi] = True
        return found


def _words_match(words: Sequence[str], toks: Sequence[str], start: int) -> bool:
    """Whether toks[start:] begins with `words` (a word ending in '*' matches any token it is a prefix of)."""
    for k, word in enumerate(words):
        t = toks[start + k]
        if not (t == word or (word[-1] == "*" and t.startswith(word[:-1]))):
            return False
    return True


PHRASES = PhraseMatcher(
    {
        "suggestion_cue": [
            "deviam",
            "deveriam",
            "devia",
            "deveria",
            "podiam",
            "poderiam",
            "podia",
            "poderia",
            "sugiro",
            "sugestao",
            "sugestoes",
            "seria (bom|top|legal|otimo|incrivel|massa|interessante|perfeito|bacana|lindo|show|demais|muito"
            "|uma boa|bem|daora|maneiro|foda|util|melhor|ideal|maravilhoso|justo|genial|bueno|increible)",
            "que tal",
            "por que nao",
            "porque nao",
            "fica a dica",
            "queria que",
            "quero que",
            "gostaria que",
            "gostaria de ver",
            "bem que (podia|podiam|poderia|poderiam)",
            "tomara que",
            "custava",
            "recomendo",
            "se (tivesse|houvesse|pudesse|tivessem|colocassem|lancassem|fizessem|voltasse|voltassem)",
            "(precisa|precisam|precisava|precisavam) (de|) (ter|colocar|melhorar|lancar|fazer|mudar|voltar)",
            "(falta|faltava) (so|) (um|uma|ter)",
            "should",
            "would be (nice|great|cool|awesome|amazing|better|good)",
            "please (add|make|bring|release|fix|put|do|consider)",
            "could you",
            "why not",
            "i wish",
            "it would",
            "consider",
            "deberian",
            "podrian",
            "ojala",
            "estaria (genial|bien|bueno)",
            "dava (para|pra)",
            "fariam",
            "faria sentido",
            "na proxima",
            "da proxima vez",
            "ficaria (melhor|bom|otimo|perfeito|top|lindo)",
            "ficava (melhor|perfeito|bom)",
            "vale a pena (lancar|fazer)",
        ],
        "info_seeking": [
            "alguem (sabe|ai|pode|tem|me)",
            "(sabe|sabem) (se|me dizer|informar|dizer)",
            "(gostaria|queria|quero) de saber",
            "queria saber",
            "quero saber",
            "duvida",
            "pergunta",
            "me (explica|explicam|tira|ajuda|ajudem|diz|dizem|fala)",
            "anyone know",
            "does anyone",
            "can someone",
            "do you know",
            "is there",
            "alguien sabe",
            "tem previsao",
            "ja tem data",
            "(vai|vao) (ter|sair|rolar)",
            "ja saiu",
            "e verdade",
            "sera que",
            "tem como",
            "como (faco|faz|eu|funciona|consigo)",
            "onde (compro|encontro|acho|vende|assisto|ouco|fica|vai)",
            "que (horas|dia)",
            "qual (o|a|e) (nome|data|horario|valor|preco|musica|link)",
            "qual o nome",
            "quanto (custa|tempo|e)",
            "quem (canta|produziu|fez|compos|dirigiu|e)",
            "when (is|will|does)",
            "where can",
            "how (do|can)",
        ],
        "irony": [
            "so que nao",
            "sqn",
            "aham",
            "ta bom ne",
            "claro que sim",
            "que (novidade|surpresa)",
            "nossa que (original|criativo|novidade|surpresa|inovador)",
            "(obrigado|obrigada) por nada",
            "parabens (hein|ein)",
            "parabens (pela|pelo|aos|a) (incompetencia|bagunca|desorganizacao)",
            "(adorei|amei) (pagar|esperar|ficar)",
            "que maravilha (de|pagar|ficar)",
            "genial (ne|hein)",
            "yeah right",
            "great job",
            "sure jan",
            "mais (uma|um) igual",
            "como sempre",
            "(incrivel|impressionante) como",
            "quem diria",
        ],
        "soft_critic": [
            "esperava (mais|bem|muito)",
            "(podia|poderia) ser melhor",
            "deixou a desejar",
            "ninguem (testa|merece|aguenta)",
            "nao (gostei|curti|gosto|curto|funciona|presta|consigo|aguento|vale|recomendo|rola|da)",
            "serio (que|isso|mesmo)",
            "que (vergonha|absurdo|decepcao|palhacada|raiva|saco|preguica|lixo|horror)",
            "nunca mais",
            "sempre a mesma",
            "toda vez",
            "perdi (meu|o) tempo",
            "expected (more|better)",
            "nao e (pra|para) mim",
            "nada (demais|especial|novo)",
            "mais do mesmo",
            "pior (que|do)",
            "not (good|great|worth)",
            "waste of",
        ],
        "spam_phrase": [
            "(ganhe|ganhar|ganho) (_dinheiro_|dinheiro)",
            "renda extra",
            "(trabalhe|trabalhar|trabalhando|trabalho) (de|em) casa",
            "chama no (zap|whats|whatsapp|pv|direct|dm|privado|insta)",
            "inscreva se",
            "inscreva-se",
            "se inscrev*",
            "sigam (meu|minha|nosso|nossa|la|o perfil|o meu|a minha)",
            "segue (meu|minha|nosso|nossa|la|de volta)",
            "me (sigam|segue)",
            "sigo de volta",
            "link (na|no) (bio|perfil)",
            "(compre|comprar|compra) (seguidores|curtidas|views|likes)",
            "follow (me|my|back)",
            "subscribe to",
            "check out my",
            "visit my",
            "(meu|my) (canal|channel)",
            "confira (o|meu|nosso)",
            "acesse (o|meu|nosso|ja|agora)",
            "clique (no|aqui|agora)",
            "click (here|the link)",
            "cadastre se",
            "cadastre-se",
            "codigo promocional",
            "bonus de cadastro",
            "sorteio",
            "giveaway",
            "(investimento|lucro) garantido",
            "quem (ta|esta|estiver) (aqui|ouvindo|vendo) (em|no ano de) _ano_",
            "(whos|who) (is|) (here|listening) in _ano_",
            "da (um|) like se",
            "deixa (o|seu) like",
            "like (se|if)",
            "(curte|comenta) se",
            "(marque|marca|marquem) (alguem|um amigo|uma amiga|os amigos)",
            "te ensino",
            "vendo (beats|ingresso|ingressos|seguidores)",
            "a venda",
        ],
        "own_work": [
            "(meu|minha|nosso|nossa|my|our) (som|canal|trabalho|beat|beats|clipe|perfil|insta|instagram|tiktok|musica"
            "|banda|loja|site|page|channel|music|mixtape|ep|album|cover|versao)",
        ],
        "wants_more": [
            "(quero|queremos) mais",
            "mais (disso|assim)",
            "musicas assim",
            "parte _num_",
            "lanca logo",
            "(ansioso|ansiosa|ansiosos|ansiosas)",
            "nao vejo a hora",
            "cant wait",
            "more like this",
            "volta logo",
        ],
        "contrast": ["mas", "porem", "so que", "entretanto", "contudo", "but", "however", "pero", "although", "apesar"],
    }
)
