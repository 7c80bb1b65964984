"""Documents a hostile device serves (tests and bench/hostile_description.py)."""

from __future__ import annotations


def scpd_of_size(size: int) -> bytes:
    """A valid SCPD of about ``size`` bytes: one action, then state variable after state variable."""
    row = (
        "<stateVariable sendEvents='no'><name>V{}</name><dataType>string</dataType></stateVariable>"
    )
    rows, total, i = [], 0, 0
    while total < size:
        text = row.format(i)
        rows.append(text)
        total += len(text)
        i += 1
    return (
        '<?xml version="1.0"?><scpd xmlns="urn:schemas-upnp-org:service-1-0">'
        "<specVersion><major>1</major><minor>0</minor></specVersion><actionList><action>"
        "<name>GetProtocolInfo</name></action></actionList>"
        f"<serviceStateTable>{''.join(rows)}</serviceStateTable></scpd>"
    ).encode()
