"""Tag extraction from the curated taxonomy (data/taxonomy.yaml) and normalisation of LLM tag codes."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from app.classifier.base import Tag
from app.classifier.tags import (
    DEFAULT_TAXONOMY_PATH,
    MAX_TAGS,
    TagExtractor,
    TaxonomyError,
    _expand,
    _substitute_macros,
    normalize_text,
)

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).with_name("tag_cases.yaml")


@pytest.fixture(scope="module")
def extractor() -> TagExtractor:
    return TagExtractor.load()


@pytest.fixture(scope="module")
def taxonomy() -> dict:
    return yaml.safe_load(DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8"))


def codes_of(extractor: TagExtractor, text: str) -> list[str]:
    return [tag.codigo for tag in extractor.extract(text)]


# --- the taxonomy file ------------------------------------------------------------------------------------------


def test_the_codes_named_by_the_spec_are_in_the_taxonomy(extractor):
    spec_examples = {"feat_autotune", "clip_narrativa", "show_duracao", "audio_mixagem", "app_modo_offline"}
    assert spec_examples <= set(extractor.codes)
    assert len(extractor.codes) >= 40


def test_every_entry_has_an_explanation_synonyms_and_rules(taxonomy):
    for entry in taxonomy["tags"]:
        code = entry["codigo"]
        assert re.fullmatch(r"[a-z]+_[a-z0-9_]+", code), code
        assert code.startswith(entry["escopo"] + "_"), code
        assert entry["escopo"] in taxonomy["escopos"], code
        explanation = entry["explicacao"].strip()
        assert explanation.endswith(".") and len(explanation.split()) >= 5, code
        assert entry.get("sinonimos"), code
        assert entry.get("regras") or entry.get("regras_contexto"), code


def test_every_regex_compiles_and_starts_with_a_literal_stem(taxonomy):
    macros = taxonomy["macros"]
    for entry in taxonomy["tags"]:
        patterns = list(entry.get("regras") or []) + list(entry.get("excluir") or [])
        for group in entry.get("regras_contexto") or []:
            patterns += group["regras"] if isinstance(group, dict) else [group]
        for pattern in patterns:
            compiled = re.compile(_substitute_macros(pattern, macros, entry["codigo"]))
            assert compiled.groups == 0, f"{entry['codigo']}: capturing group in {pattern!r}"
        for pattern in entry.get("regras") or []:
            for alternative in _expand(_substitute_macros(pattern, macros, entry["codigo"])):
                assert alternative[:1].isalnum(), f"{entry['codigo']}: {pattern!r} has no literal stem"


def test_labelling_guide_lists_every_code_with_its_explanation(extractor):
    guide = (ROOT / "data" / "LABELLING.md").read_text(encoding="utf-8")
    for code in extractor.codes:
        assert f"| `{code}` | {extractor.explanation(code)} |" in guide, f"{code} missing from data/LABELLING.md"


def test_codes_and_explanations(extractor):
    assert isinstance(extractor.codes, tuple)
    assert len(extractor.codes) == len(set(extractor.codes)) >= 47
    assert extractor.explanation("feat_autotune") == "Comentário sobre o uso de autotune ou efeitos na voz."
    assert extractor.explanation("Auto-Tune") == extractor.explanation("feat_autotune")
    with pytest.raises(KeyError):
        extractor.explanation("musica_inexistente")


def test_load_is_cached_per_path(extractor, tmp_path):
    assert TagExtractor.load() is extractor
    assert TagExtractor.load(DEFAULT_TAXONOMY_PATH) is extractor
    copy = tmp_path / "taxonomy.yaml"
    copy.write_text(DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    other = TagExtractor.load(copy)
    assert other is not extractor and other is TagExtractor.load(str(copy))
    assert other.codes == extractor.codes


# --- what users see ---------------------------------------------------------------------------------------------


def test_output_is_tag_objects_with_the_taxonomy_explanation(extractor):
    tags = extractor.extract("o autotune estragou a música")
    assert tags == [Tag("feat_autotune", "Comentário sobre o uso de autotune ou efeitos na voz.")]
    assert all(isinstance(tag, Tag) for tag in tags)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # pt-BR with accents, without accents, slang, typos, stretched letters
        ("Esse refrão é chiclete demais", {"musica_refrao"}),
        ("esse refrao e chiclete demais", {"musica_refrao"}),
        ("mano o grave dessa musica bate no peito kkkk", {"musica_batida"}),
        ("a BATIDAAAA desse funk é absurda", {"musica_batida"}),
        ("muito autotune, a voz parece de robô", {"feat_autotune"}),
        ("desafinou feio no final, que vergonha", {"vocal_afinacao"}),
        ("que voz, arrepiei inteira", {"vocal_interpretacao"}),
        ("letra rasa e rima pobre", {"letra_qualidade"}),
        ("o que significa 'cafuné' no segundo verso?", {"letra_significado"}),
        ("a mixagem ta horrivel, voz enterrada", {"audio_mixagem"}),
        ("a qualidade do audio caiu depois da atualizacao", {"audio_qualidade"}),
        ("essa musica ta muito mais baixa que as outras do album", {"audio_volume"}),
        ("o clipe tem uma história linda, chorei no final", {"clip_narrativa"}),
        ("a coreografia do clipe é muito difícil", {"clip_coreografia"}),
        ("coloca legenda em português pfv", {"clip_legenda"}),
        ("quando sai o álbum novo???", {"lancamento_data"}),
        ("lança a versão acústica pfv", {"lancamento_versao"}),
        ("a capa do álbum é linda", {"lancamento_capa"}),
        ("lança em vinil que eu compro dois", {"merch_produtos"}),
        ("vem pra Manaus por favor!!", {"turne_datas"}),
        ("1h40 de atraso e nem um pedido de desculpas", {"show_atraso"}),
        ("setlist curto, não tocou as antigas", {"show_setlist"}),
        ("a meia-entrada esgotou em 2 minutos", {"show_ingresso"}),
        ("3 horas de fila e banheiro imundo no festival", {"show_organizacao"}),
        ("o som do show tava embolado, não dava pra ouvir a voz", {"show_som"}),
        ("lança o DVD dessa turnê", {"show_gravacao"}),
        ("o app trava toda hora depois da atualização", {"app_estabilidade"}),
        ("não consigo baixar as músicas pra ouvir offline", {"app_modo_offline"}),
        ("o algoritmo só me recomenda as mesmas coisas", {"app_recomendacao"}),
        ("muito anúncio entre as músicas no plano grátis", {"app_anuncios", "preco_assinatura"}),
        ("a letra sincronizada tá atrasada", {"app_letras"}),
        ("essa música não está disponível no meu país", {"app_disponibilidade"}),
        ("aumentaram o preço da assinatura de novo", {"preco_assinatura"}),
        ("xingou a plateia, que atitude feia", {"artista_comportamento"}),
        ("que bom ver ela voltando aos palcos depois do hiato", {"artista_carreira"}),
        # English
        ("the beat on this one goes so hard", {"musica_batida"}),
        ("the chorus is so catchy", {"musica_refrao"}),
        ("too much autotune on this track", {"feat_autotune"}),
        ("the mix is so muddy", {"audio_mixagem"}),
        ("please add english subtitles", {"clip_legenda"}),
        ("when is the album coming out?", {"lancamento_data"}),
        ("keeps crashing on my android", {"app_estabilidade"}),
        ("the premium subscription is too expensive", {"preco_assinatura"}),
        # Spanish
        ("el ritmo de esta canción es buenísimo", {"musica_batida"}),
        ("la letra es preciosa", {"letra_qualidade"}),
        ("¿cuándo sale el disco?", {"lancamento_data"}),
        ("las entradas se agotaron en minutos", {"show_ingresso"}),
        ("me encanta la portada", {"lancamento_capa"}),
    ],
)
def test_representative_comments_get_the_expected_tags(extractor, text, expected):
    assert set(codes_of(extractor, text)) == expected


@pytest.mark.parametrize(
    ("text", "wrong_code"),
    [
        ("sofri uma batida de carro ouvindo essa música", "musica_batida"),
        ("foi um erro grave não ter ido", "musica_batida"),
        ("can't beat this album", "musica_batida"),
        ("a bateria do meu celular acabou no meio da música", "musica_instrumental"),
        ("a bateria do meu celular acabou no meio da música", "app_estabilidade"),
        ("isso significa muito pra mim", "letra_significado"),
        ("vou ouvir em voz alta pra vizinhança toda", "vocal_interpretacao"),
        ("to sem voz de tanto cantar no show", "vocal_interpretacao"),
        ("recomendo demais esse disco", "app_recomendacao"),
        ("ouvi no rádio e vim correndo procurar", "app_recomendacao"),
        ("minha carreira de fã começou com esse álbum", "artista_carreira"),
        ("essa era a música do programa da Xuxa?", "artista_carreira"),
        ("solo quiero decir que te amo", "musica_instrumental"),
        ("o app volta pra página inicial toda hora", "turne_datas"),
        ("a camiseta da turnê é linda", "turne_datas"),
        ("o preço do plano é justo pelo que entrega", "vocal_interpretacao"),
        ("muito merchan, pouca música", "merch_produtos"),
        ("deviam ter guarda-volumes no festival", "audio_volume"),
        ("the mix of genres on this album is wild", "audio_mixagem"),
        ("nossa, mais uma capa de celular com a cara dele", "lancamento_capa"),
    ],
)
def test_known_false_positive_traps(extractor, text, wrong_code):
    assert wrong_code not in codes_of(extractor, text)


def test_comments_without_a_subject_get_no_tags(extractor):
    for text in ["hino", "que pedrada 🔥🔥🔥", "primeiro!!!", "👏👏👏", "", "   ", "sigam meu perfil, link na bio"]:
        assert extractor.extract(text) == []


def test_context_decides_between_live_sound_and_mixing(extractor):
    assert codes_of(extractor, "som embolado do começo ao fim no show") == ["show_som"]
    assert codes_of(extractor, "a mixagem deixou tudo embolado") == ["audio_mixagem"]
    assert "audio_mixagem" not in codes_of(extractor, "no festival o som tava embolado")


def test_tags_are_ordered_by_first_mention_deduplicated_and_capped(extractor):
    text = "o refrão é ótimo, a batida também, o refrão de novo e a letra, a capa, o clipe lindo e o vinil"
    codes = codes_of(extractor, text)
    assert codes == ["musica_refrao", "musica_batida", "letra_qualidade", "lancamento_capa", "clip_fotografia"]
    assert len(codes) == MAX_TAGS


def test_extract_many_keeps_input_order(extractor):
    texts = ["quando sai o álbum?", "hino", "o app trava"]
    assert [[t.codigo for t in tags] for tags in extractor.extract_many(texts)] == [
        ["lancamento_data"],
        [],
        ["app_estabilidade"],
    ]
    assert extractor.extract_many([]) == []


def test_normalize_text():
    assert normalize_text("  Refrão   CHICLETE\tdemais ") == "refrao chiclete demais"
    assert normalize_text("muuuuuito boooom kkkkkk") == "muuito boom kk"
    assert normalize_text("Ação, açaí, pão, ÉPICO, niño") == "acao, acai, pao, epico, nino"
    assert normalize_text("carro 1000") == "carro 1000"


# --- LLM code normalisation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("feat_autotune", "feat_autotune"),
        ("Autotune", "feat_autotune"),
        ("feat-autotune", "feat_autotune"),
        ("FEAT_AUTOTUNE", "feat_autotune"),
        (" Auto-Tune ", "feat_autotune"),
        ("audio_mix", "audio_mixagem"),
        ("Áudio Mixagem", "audio_mixagem"),
        ("mixing", "audio_mixagem"),
        ("clipe_narrativa", "clip_narrativa"),
        ("Modo Offline", "app_modo_offline"),
        ("refrão", "musica_refrao"),
        ("setlist", "show_setlist"),
        ("ticket-prices", None),
        ("release_date", "lancamento_data"),
    ],
)
def test_normalize_codes_maps_llm_codes(extractor, raw, code):
    tags = extractor.normalize_codes([raw])
    assert [t.codigo for t in tags] == ([code] if code else [])


def test_normalize_codes_drops_unknown_and_duplicates(extractor):
    tags = extractor.normalize_codes(["Autotune", "qualquer_coisa", "feat-autotune", "", "mixing", None, 42])  # type: ignore[list-item]
    assert tags == [extractor.tag("feat_autotune"), extractor.tag("audio_mixagem")]
    assert all(isinstance(tag, Tag) and tag.explicacao for tag in tags)


def test_normalize_codes_caps_at_five(extractor):
    assert len(extractor.normalize_codes(extractor.codes)) == MAX_TAGS


def test_ambiguous_names_are_not_guessed(extractor):
    # "duracao" could be a track or a show, "qualidade" the lyrics or the audio: better no tag than a wrong one.
    assert extractor.normalize_codes(["duracao", "qualidade"]) == []


# --- engine semantics and validation, on small taxonomies -------------------------------------------------------


def small(**entry) -> dict:
    base = {"codigo": "musica_teste", "escopo": "musica", "explicacao": "Teste.", "regras": ["batid(?:a|ao)\\b"]}
    return {"tags": [{**base, **entry}]}


def test_exclusions_only_remove_the_overlapping_match():
    x = TagExtractor(small(excluir=["batida de carro"]))
    assert x.extract_codes("batida de carro") == []
    assert x.extract_codes("batida de carro e a batida da música") == ["musica_teste"]


def test_contextual_rules_need_their_context():
    x = TagExtractor(small(regras=[], regras_contexto=["som\\b"], contexto="show", contexto_negativo="app"))
    assert x.extract_codes("o som do show") == ["musica_teste"]
    assert x.extract_codes("o som") == []
    assert x.extract_codes("o som do show no app") == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"explicacao": ""}, "explicacao"),
        ({"regras": ["(batida)"]}, "capturing"),
        ({"regras": ["[a-z]+ batida"]}, "literal word stem"),
        ({"regras": ["batid(a"]}, "invalid regex"),
        ({"regras": []}, "at least one rule"),
        ({"codigo": "Musica-Teste"}, "snake case"),
        ({"escopo": "clip"}, "prefix"),
        ({"regras_contexto": ["som\\b"]}, "contexto"),
        ({"regras": ["<NADA>"]}, "unknown macro"),
    ],
)
def test_invalid_taxonomies_are_refused(entry, message):
    with pytest.raises(TaxonomyError, match=message):
        TagExtractor(small(**entry))


def test_conflicting_synonyms_are_refused():
    data = small(sinonimos=["beat"])
    data["tags"].append({**data["tags"][0], "codigo": "musica_outra", "sinonimos": ["Beat"]})
    with pytest.raises(TaxonomyError, match="synonym"):
        TagExtractor(data)


# --- quality and speed on hand-written comments -----------------------------------------------------------------


def test_dev_cases_precision_and_recall(extractor):
    cases = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    assert len(cases) >= 150
    assert {code for case in cases for code in case["tags"]} <= set(extractor.codes)
    tp = fp = fn = 0
    for case in cases:
        got, expected = set(codes_of(extractor, case["texto"])), set(case["tags"])
        tp, fp, fn = tp + len(got & expected), fp + len(got - expected), fn + len(expected - got)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert precision >= 0.85, f"precision {precision:.3f} (tp={tp} fp={fp})"
    assert recall >= 0.75, f"recall {recall:.3f} (tp={tp} fn={fn})"


def test_extraction_is_fast(extractor):
    # A loose floor (the measured speed is ~10x higher) that still catches a catastrophic regex.
    cases = [case["texto"] for case in yaml.safe_load(CASES.read_text(encoding="utf-8"))]
    texts = (cases * (5000 // len(cases) + 1))[:5000]
    start = time.process_time()
    extractor.extract_many(texts)
    assert time.process_time() - start < 1.0
