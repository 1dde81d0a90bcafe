"""Read-only attributes of a Python class that are those of the Rust object it wraps
(``self._core``), declared once each instead of as a property that returns it."""

from __future__ import annotations

from typing import Any, Generic, NoReturn, TypeVar, cast, overload

T = TypeVar("T")


class CoreAttribute(Generic[T]):
    """The attribute of ``self._core`` of the same name (or named ``name``), read-only, with
    ``doc`` as its docstring::

        vocab_size = CoreAttribute[int]("The number of ids.")
    """

    def __init__(self, doc: str | None = None, *, name: str | None = None) -> None:
        self.__doc__ = doc
        self._core_name = name
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name
        self._core_name = self._core_name or name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> CoreAttribute[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: object, owner: type | None = None) -> T | CoreAttribute[T]:
        if obj is None:
            return self
        wrapper: Any = obj
        return cast(T, getattr(wrapper._core, self._core_name or self._name))

    def __set__(self, obj: object, value: NoReturn) -> NoReturn:
        raise AttributeError(f"{type(obj).__name__}.{self._name} is read-only")
