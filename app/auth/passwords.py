"""The password policy, shared by user creation (API and CLI) and the production check of ADMIN_PASSWORD."""

from __future__ import annotations

MIN_PASSWORD_LENGTH = 10
# Fewer distinct characters than this is a pattern, not a password ("aaaaaaaaaaaa", "abababababab").
MIN_DISTINCT_CHARACTERS = 5
# What is left once the user name is taken out must still be a password on its own.
MIN_LENGTH_WITHOUT_USERNAME = 8

# The most used passwords that pass the length rule (leaked-password lists), lower-cased.
COMMON_PASSWORDS = frozenset(
    {
        "1234567890",
        "12345678910",
        "0123456789",
        "1234567890a",
        "qwertyuiop",
        "qwertyuiop1",
        "1q2w3e4r5t",
        "1q2w3e4r5t6y",
        "q1w2e3r4t5",
        "password123",
        "password1234",
        "passw0rd123",
        "senha12345",
        "senha123456",
        "minhasenha",
        "minhasenha123",
        "iloveyou123",
        "abc1234567",
        "abcdefghij",
        "administrator",
        "admin12345",
        "admin123456",
        "adminadmin",
        "alumusic123",
        "alumusic2026",
        "letmein123",
        "welcome123",
        "changeme123",
        "trustno1234",
        "football123",
    }
)


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why `password` is refused (pt-BR, for the client), or None when it passes the policy."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"A senha precisa ter pelo menos {MIN_PASSWORD_LENGTH} caracteres."
    folded = password.casefold()
    if len(set(folded)) < MIN_DISTINCT_CHARACTERS:
        return f"A senha precisa ter pelo menos {MIN_DISTINCT_CHARACTERS} caracteres diferentes."
    if folded in COMMON_PASSWORDS or folded.rstrip("!.@#") in COMMON_PASSWORDS:
        return "Esta senha é comum demais; escolha outra."
    if username:
        name = username.casefold()
        if folded == name or len(folded.replace(name, "")) < MIN_LENGTH_WITHOUT_USERNAME:
            return "A senha não pode ser o nome de usuário (nem quase só ele)."
    return None
