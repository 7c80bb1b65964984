"""Reading a ContentDirectory: paged Browse and Search, one object, a path of titles.

::

    cd = (await cp.load(url)).service("ContentDirectory")
    async for obj in browse(cd, "0"):                 # windows of 100 (rules W1-W3)
        print(obj.title, [r.protocol_info for r in obj.resources])
    track = await find_item(cd, "Music/Album/Track")  # an ObjectID or a path of titles

Results are DIDL-Lite read through the safe parser (:mod:`upnpcm.core.didl`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from upnpcm.aio.control_point import RemoteService
from upnpcm.core.content import DEFAULT_PAGE, Pager, split_title_path
from upnpcm.core.datatypes import as_int
from upnpcm.core.didl import DidlObject, parse_didl
from upnpcm.errors import UPnPError

__all__ = ["ItemNotFound", "browse", "by_path", "find_item", "first_match", "metadata", "search"]

#: ContentDirectory:1 "No such object" / "No such container" faults.
_NO_SUCH: Final = (701, 710)


class ItemNotFound(LookupError):
    """No object answers to an ObjectID, a path of titles or a search."""


async def _windows(
    cd: RemoteService, action: str, fixed: dict[str, object], pager: Pager
) -> AsyncIterator[DidlObject]:
    while (window := pager.request()) is not None:
        start, count = window
        result = await cd.call(action, **fixed, StartingIndex=start, RequestedCount=count)
        objects = parse_didl(str(result.get("Result", ""))).objects
        pager.on_page(len(objects), as_int(result.get("TotalMatches"), default=0))
        for obj in objects:
            yield obj


async def browse(
    cd: RemoteService,
    object_id: str = "0",
    *,
    start: int = 0,
    page_size: int = DEFAULT_PAGE,
    limit: int | None = None,
    sort: str = "",
) -> AsyncIterator[DidlObject]:
    """The children of ``object_id``, window after window (rules W1-W3).

    Raises:
        UPnPError: the server's fault (701: no such object).
        RemoteProtocolError: a Result that is not DIDL-Lite.
    """
    fixed: dict[str, object] = {
        "ObjectID": object_id,
        "BrowseFlag": "BrowseDirectChildren",
        "Filter": "*",
        "SortCriteria": sort,
    }
    async for obj in _windows(
        cd, "Browse", fixed, Pager(start=start, page_size=page_size, limit=limit)
    ):
        yield obj


async def search(
    cd: RemoteService,
    criteria: str,
    container_id: str = "0",
    *,
    page_size: int = DEFAULT_PAGE,
    limit: int | None = None,
) -> AsyncIterator[DidlObject]:
    """Objects matching ``criteria`` under ``container_id``, window after window.

    Raises:
        LookupError: the server offers no Search, or its SearchCapabilities are empty.
        UPnPError: the server's fault (708: unsupported criteria).
    """
    if cd.scpd.action("Search") is None:
        raise LookupError(f"{cd.qualified_name} offers no Search action")
    caps = str((await cd.call("GetSearchCapabilities")).get("SearchCaps", "")).strip()
    if not caps:
        raise LookupError(f"{cd.qualified_name} cannot search (its SearchCapabilities are empty)")
    fixed: dict[str, object] = {
        "ContainerID": container_id,
        "SearchCriteria": criteria,
        "Filter": "*",
        "SortCriteria": "",
    }
    async for obj in _windows(cd, "Search", fixed, Pager(page_size=page_size, limit=limit)):
        yield obj


async def metadata(cd: RemoteService, object_id: str) -> DidlObject:
    """The object ``object_id`` itself (BrowseMetadata).

    Raises:
        ItemNotFound: the server has no such object.
        RemoteProtocolError: a Result that is not DIDL-Lite.
    """
    try:
        result = await cd.call(
            "Browse",
            ObjectID=object_id,
            BrowseFlag="BrowseMetadata",
            Filter="*",
            StartingIndex=0,
            RequestedCount=0,
            SortCriteria="",
        )
    except UPnPError as exc:
        if exc.code in _NO_SUCH:
            raise ItemNotFound(f"no object {object_id!r} on {cd.device.friendly_name}") from exc
        raise
    objects = parse_didl(str(result.get("Result", ""))).objects
    if not objects or objects[0].id != object_id:
        # gerbera answers any ID that is not a number with its root: that is not this object
        raise ItemNotFound(f"no object {object_id!r} on {cd.device.friendly_name}")
    return objects[0]


def _title_matches(obj: DidlObject, title: str) -> bool:
    wanted = title.casefold()
    return obj.title.casefold() == wanted or obj.title.rsplit(".", 1)[0].casefold() == wanted


async def by_path(cd: RemoteService, path: str, *, root: str = "0") -> DidlObject:
    """The object at a path of titles from ``root`` (``Music/Album/Track``).

    Titles compare without case; a title may leave out a file extension
    (servers that title items by file name show ``Track.mp3``).

    Raises:
        ItemNotFound: a step of the path is missing (the message lists what is there).
    """
    titles = split_title_path(path)
    if not titles:
        raise ItemNotFound("an empty path of titles")
    parent = root
    found: DidlObject | None = None
    for depth, title in enumerate(titles):
        seen: list[str] = []
        found = None
        async for obj in browse(cd, parent):
            if _title_matches(obj, title) and (obj.container or depth == len(titles) - 1):
                found = obj
                break
            seen.append(obj.title)
        if found is None:
            where = "/".join(titles[:depth]) or "the root"
            there = ", ".join(repr(t) for t in seen[:10]) or "nothing"
            raise ItemNotFound(f"no {title!r} in {where} (there: {there})")
        parent = found.id
    assert found is not None
    return found


async def find_item(cd: RemoteService, item: str) -> DidlObject:
    """``item`` as an ObjectID if the server has one so named, else as a path of titles.

    Raises:
        ItemNotFound: neither.
    """
    try:
        return await metadata(cd, item)
    except (ItemNotFound, UPnPError) as by_id:  # some servers fault 501/720 for an unknown ID
        try:
            return await by_path(cd, item)
        except ItemNotFound as exc:
            raise ItemNotFound(f"{by_id}; as a path of titles: {exc}") from None


async def first_match(cd: RemoteService, criteria: str) -> DidlObject:
    """The first item a Search finds.

    Raises:
        ItemNotFound: nothing matches.
        LookupError: the server cannot search.
    """
    async for obj in search(cd, criteria, limit=50):
        if not obj.container:
            return obj
    raise ItemNotFound(f"no item matches {criteria!r}")
