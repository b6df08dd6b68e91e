"""Names of artists, albums and songs read as one placeholder, so an unseen title does not sway the label."""

from __future__ import annotations

from app.classifier.features.names import NAME, mask_many, mask_names


def test_request_names_and_inner_capitalised_words_are_masked() -> None:
    assert mask_names("aurora é o álbum do ano", ["Aurora"]) == f"{NAME} é o álbum do ano"
    assert mask_names("ouvi Lua de Papel ontem") == f"ouvi {NAME} de {NAME} ontem"
    assert mask_names("o show do Caio, em Recife, foi lindo") == f"o show do {NAME}, em {NAME}, foi lindo"


def test_sentence_openings_and_shouting_are_not_names() -> None:
    assert mask_names("Que show. Foi lindo demais") == "Que show. Foi lindo demais"
    assert mask_names("MELHOR SHOW DA VIDA") == "MELHOR SHOW DA VIDA"
    assert mask_names("Hino") == "Hino"


def test_a_request_name_inside_another_word_is_left_alone() -> None:
    assert mask_names("que sol lindo, solzinho bom", ["Sol"]) == f"que {NAME} lindo, solzinho bom"


def test_names_are_per_text() -> None:
    assert mask_many(["ana canta bem", "ana canta bem"], [["Ana"], []]) == [f"{NAME} canta bem", "ana canta bem"]
