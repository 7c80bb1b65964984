"""The state converters' fast paths give exactly what the general conversion gives (M1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upnpcm.core.description import AllowedValueRange, StateVariable
from upnpcm.service import _Converter

VARIABLES = [
    StateVariable(
        name="V",
        data_type="ui2",
        allowed_range=AllowedValueRange(minimum="0", maximum="100", step="1"),
    ),
    StateVariable(
        name="S",
        data_type="i4",
        allowed_range=AllowedValueRange(minimum="-10", maximum="90", step="5"),
    ),
    StateVariable(name="U", data_type="ui1"),
    StateVariable(name="I", data_type="int"),
    StateVariable(
        name="W", data_type="ui4", allowed_range=AllowedValueRange(minimum="1", maximum="1e3")
    ),
    StateVariable(name="L", data_type="string", allowed_values=("A", "B")),
    StateVariable(name="T", data_type="string"),
    StateVariable(name="B", data_type="boolean"),
    StateVariable(
        name="R", data_type="r8", allowed_range=AllowedValueRange(minimum="0", maximum="1")
    ),
]
VALUES = st.one_of(
    st.integers(-(2**33), 2**33),
    st.booleans(),
    st.sampled_from(["A", "B", "C", "", "1", "0", "true"]),
    st.floats(allow_nan=False, allow_infinity=False),
)


def outcome(function, value):
    try:
        return function(value)
    except ValueError as exc:
        return ("ValueError", str(exc).split(":")[0])


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda v: v.name)
@given(value=VALUES)
def test_fast_and_general_paths_agree(variable, value):
    converter = _Converter(variable)
    fast, general = outcome(converter, value), outcome(converter._general, value)
    assert fast == general
    if not isinstance(fast[0], str) or fast[0] != "ValueError":
        assert type(fast[1]) is type(general[1])
