"""Comments shared by several test modules."""

# Short, vague comments: the fast path is rarely sure about these, so they exercise the second opinion.
VAGUE_COMMENTS = [
    "hmm sei la",
    "ok entao",
    "interessante...",
    "vamos ver né",
    "tanto faz",
    "é, pode ser",
    "mds",
    "eita",
    "oxe",
    "sem palavras",
    "nem sei oq dizer",
    "bom... ok",
]
