"""The metadata filters of ``/api/search``, as query parameters (GET) or form fields (POST).

Dates are ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` and name whole periods: ``date_to=2024-05``
keeps May. A photo's date is when it was taken (EXIF), any other item's when it was modified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Form
from fastapi import Query as Param

from retrieval.search.query_syntax import date_end, date_start
from web.errors import ApiError

DATE_HELP = "YYYY, YYYY-MM or YYYY-MM-DD; the item's date (photo taken, else file modified)"


@dataclass
class Filters:
    """The filter fields of a ``Query``, checked."""

    date_from: float | None = None
    date_to: float | None = None
    camera: str | None = None
    place: str | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    group_similar: bool = True

    def fields(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _period(name: str, value: str | None, end: bool) -> float | None:
    if value is None or not value.strip():
        return None
    when = date_end(value) if end else date_start(value)
    if when is None:
        raise ApiError(400, "invalid_parameter", f"{name}: use YYYY, YYYY-MM or YYYY-MM-DD")
    return when


def checked(date_from: str | None, date_to: str | None, camera: str | None, place: str | None,
            min_duration: float | None, max_duration: float | None,
            group_similar: bool = True) -> Filters:
    """The filters, dates turned into seconds; 400 for a date that is not one."""
    return Filters(
        date_from=_period("date_from", date_from, end=False),
        date_to=_period("date_to", date_to, end=True),
        camera=(camera or "").strip() or None,
        place=(place or "").strip() or None,
        min_duration=min_duration,
        max_duration=max_duration,
        group_similar=group_similar,
    )


def query_filters(
    date_from: Annotated[str | None, Param(max_length=10, description=DATE_HELP)] = None,
    date_to: Annotated[str | None, Param(max_length=10, description=DATE_HELP)] = None,
    camera: Annotated[str | None, Param(max_length=100, description="In the camera's name")] = None,
    place: Annotated[str | None, Param(max_length=100, description="In the place name")] = None,
    min_duration: Annotated[float | None, Param(ge=0, le=1e7, description="Seconds")] = None,
    max_duration: Annotated[float | None, Param(ge=0, le=1e7, description="Seconds")] = None,
    group_similar: Annotated[bool, Param(
        description="Show near-identical photos once (the others in `similar`)")] = True,
) -> Filters:
    """Filters from query parameters (GET)."""
    return checked(date_from, date_to, camera, place, min_duration, max_duration,
                   group_similar)


def form_filters(
    date_from: Annotated[str | None, Form(max_length=10)] = None,
    date_to: Annotated[str | None, Form(max_length=10)] = None,
    camera: Annotated[str | None, Form(max_length=100)] = None,
    place: Annotated[str | None, Form(max_length=100)] = None,
    min_duration: Annotated[float | None, Form(ge=0, le=1e7)] = None,
    max_duration: Annotated[float | None, Form(ge=0, le=1e7)] = None,
    group_similar: Annotated[bool, Form()] = True,
) -> Filters:
    """Filters from form fields (POST)."""
    return checked(date_from, date_to, camera, place, min_duration, max_duration,
                   group_similar)
