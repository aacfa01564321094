"""Input and output shapes for provinces, communes and libraries."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.geography.models import LibraryKind

T = TypeVar("T")


class ProvinceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: int
    name: str
    division_type: str


class CommuneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: int
    province_code: int
    name: str
    division_type: str
    is_border: bool
    is_remote: bool
    population: int | None
    priority_weight: float


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


class CommuneUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    is_border: bool = False
    is_remote: bool = False
    population: Annotated[int | None, Field(ge=0, le=10_000_000)] = None
    priority_weight: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 1.0


class LibraryCreate(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    commune_code: int
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    kind: LibraryKind
    address: Annotated[str, StringConstraints(max_length=300)] = ""
