"""Structure-aware inputs for the fuzz targets: real messages, mutated where it hurts."""

from __future__ import annotations

from hypothesis import strategies as st

#: Numbers a peer may send: ordinary, long digit runs (over Python's 4,300-digit limit),
#: 64-bit edges, signs, hex, non-ASCII digits, padding.
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
    st.integers(min_value=1, max_value=40).map(lambda n: "0" * n + "1"),
    st.sampled_from(
        [
            "18446744073709551615",
            "18446744073709551616",
            "ffffffffffffffff",
            "4001",
            "\u00b2",
            "\u0661\u0662",
            "1_000",
            " 7 ",
            "+5",
            "-0",
            "",
            "1e9",
            "0x10",
        ]
    ),
)
#: Text a peer may put anywhere: printable, control characters, long runs.
TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=60),
    NUMBERS,
    st.integers(min_value=0, max_value=9000).map(lambda n: "x" * n),
)


def header_lines(names: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Header pairs from ``names`` (any case, duplicated) and random ones."""
    name = st.one_of(
        st.sampled_from(names),
        st.sampled_from(names).map(str.lower),
        st.sampled_from(names).map(str.upper),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12),
    )
    return st.lists(st.tuples(name, TEXT), max_size=12)


def replace_some(document: str, parts: list[str]) -> st.SearchStrategy[str]:
    """``document`` with some of ``parts`` replaced by hostile text, or duplicated."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        text = document
        for part in parts:
            choice = draw(st.integers(min_value=0, max_value=3))
            if choice == 1:
                text = text.replace(part, draw(TEXT), 1)
            elif choice == 2:
                text = text.replace(part, part + part, 1)  # a duplicated element
        return text

    return build()
