"""How a memory operation is declared once and then called, served and implemented.

An operation is an ``async def`` on a declaration class (operations.py), marked with
``@operation(...)``: its name, its typed arguments (the signature) and its typed result (the
return annotation). From that one declaration come:

- ``Operation``: the arguments model (pydantic, built from the signature) that every call and
  every request is checked against, the result adapter a client reads an answer with, and the
  flags: how it passes the write gate, whether it embeds text (then the caller's ``offline``
  flag goes with it), arguments that stay in the calling process, and how it is split up.
- ``Caller``: the base of MemoryService and RemoteMemory. Each declared operation becomes a
  method with the declared signature that checks its arguments and hands them to
  ``perform(op, arguments)``; a method the class defines itself is kept.
- ``Implementation``: the base of MemoryEngine, which implements every operation itself. A
  write's method runs through the write gate's shared side, an ``alone`` one through its
  exclusive side; ``perform(op, arguments)`` calls the method of the operation's name.
- ``mismatches(cls)``: what in an implementation does not fit its declarations.

Operations are collected per class along the method resolution order, so a subclass of a
declaration class adds operations for the classes built on it, and for no others.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

from . import gate
from .errors import InvalidMemoryInput

Access = Literal["read", "write", "alone"]
"""How an operation passes the write gate (gate.py): not at all, shared, or alone."""

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Chunked:
    """The operation goes to the store in parts, each with a bounded run of one argument."""

    argument: str
    """The sequence that is split (every part carries the other arguments whole)."""
    split: Callable[[Sequence[Any]], typing.Iterable[list[Any]]]
    merge: Callable[[list[Any]], Any]
    """One result from the parts' results."""


@dataclass(frozen=True, slots=True)
class Flags:
    """What the declaration says besides the signature (see ``operation``)."""

    access: Access = "read"
    embeds: bool = False
    in_process: tuple[str, ...] = ()
    chunked: Chunked | None = None
    refreshes_status: bool = False


def operation(
    *,
    access: Access = "read",
    embeds: bool = False,
    in_process: tuple[str, ...] = (),
    chunked: Chunked | None = None,
    refreshes_status: bool = False,
) -> Callable[[F], F]:
    """Declare the decorated ``async def`` as an operation on the memory store.

    ``access``: "write" holds the write gate's shared side for the whole run, "alone" its
    exclusive side. ``embeds``: it embeds text, so the caller's ``offline`` flag goes with it.
    ``in_process``: arguments (a callback) that are never sent to another process.
    ``chunked``: how the facade splits it into bounded requests. ``refreshes_status``: the
    facade asks for the store's status after it.
    """
    flags = Flags(access, embeds, in_process, chunked, refreshes_status)

    def declare(function: F) -> F:
        function.__memory_operation__ = flags  # type: ignore[attr-defined]
        return function

    return declare


class Operation:
    """One declared operation: name, signature, arguments model, result adapter, flags."""

    def __init__(self, declared: Callable[..., Any], flags: Flags) -> None:
        self.declared = declared
        self.name: str = declared.__name__
        self.flags = flags
        self.signature = inspect.signature(declared)

    def __repr__(self) -> str:
        return f"<memory operation {self.name}{self.signature}>"

    @cached_property
    def _hints(self) -> dict[str, Any]:
        # Resolved on first use: the declarations' annotations are strings until then.
        return typing.get_type_hints(self.declared)

    @cached_property
    def arguments(self) -> type[BaseModel]:
        """What a call's arguments must be (in-process ones aside; ``offline`` when it embeds)."""
        fields: dict[str, Any] = {}
        for name, parameter in self._parameters().items():
            if name not in self.flags.in_process:
                default = ... if parameter.default is parameter.empty else parameter.default
                fields[name] = (self._hints[name], default)
        if self.flags.embeds:
            fields["offline"] = (bool, False)
        title = "".join(part.title() for part in self.name.split("_")) + "Arguments"
        config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
        return create_model(title, __config__=config, **fields)

    @cached_property
    def result(self) -> TypeAdapter[Any]:
        """What an answer must be."""
        return TypeAdapter(self._hints["return"])

    def _parameters(self) -> dict[str, inspect.Parameter]:
        parameters = dict(self.signature.parameters)
        parameters.pop(next(iter(parameters)))  # self
        return parameters

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """A call of the declared signature as keyword arguments, defaults filled in
        (TypeError, as for any function, when the call does not fit the signature)."""
        bound = self.signature.bind(None, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.pop(next(iter(self.signature.parameters)))
        return arguments

    def validate(self, arguments: Mapping[str, Any], *, received: bool = False) -> dict[str, Any]:
        """``arguments`` checked against the declaration (InvalidMemoryInput saying what does
        not fit). In-process arguments pass as they are, unless ``received`` from another
        process: there they are refused like any unknown argument."""
        in_process = () if received else self.flags.in_process
        kept = {name: arguments[name] for name in in_process if name in arguments}
        checked = {name: value for name, value in arguments.items() if name not in kept}
        try:
            model = self.arguments.model_validate(checked)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "arguments"
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise InvalidMemoryInput(f"memory {self.name}: {where}: {first['msg']}{more}") from None
        values = {name: getattr(model, name) for name in type(model).model_fields}
        return {**values, **kept}

    def for_another_process(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """``arguments`` without the ones that stay in this process."""
        return {k: v for k, v in arguments.items() if k not in self.flags.in_process}

    def problems_with(self, implementation: Callable[..., Any]) -> list[str]:
        """How ``implementation``'s signature differs from the declared one (plus a keyword
        ``offline: bool = False`` when the operation embeds)."""
        expected = list(self._parameters().values())
        if self.flags.embeds:
            kind = inspect.Parameter.KEYWORD_ONLY
            expected.append(inspect.Parameter("offline", kind, default=False, annotation="bool"))
        actual = list(inspect.signature(implementation).parameters.values())[1:]
        problems = []
        if [p.name for p in actual] != [p.name for p in expected]:
            names = ", ".join(p.name for p in expected)
            problems.append(f"takes ({', '.join(p.name for p in actual)}), not ({names})")
        hints = typing.get_type_hints(implementation)
        declared = {**self._hints, "offline": bool}
        for want, got in zip(expected, actual, strict=False):
            if want.name != got.name:
                continue
            if (want.kind, want.default) != (got.kind, got.default):
                problems.append(
                    f"{got.name} is {got.kind.description} = {got.default!r}, declared "
                    f"{want.kind.description} = {want.default!r}"
                )
            if hints.get(got.name) != declared.get(got.name):
                problems.append(f"{got.name} is annotated {hints.get(got.name)!r}")
        if hints.get("return") != self._hints["return"]:
            problems.append(f"returns {hints.get('return')!r}, not {self._hints['return']!r}")
        return problems


class Declarations:
    """Base of the classes that declare operations, call them or implement them."""

    _operations: ClassVar[Mapping[str, Operation]] = MappingProxyType({})
    _declared_here: ClassVar[dict[str, Operation]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._declared_here = {
            name: Operation(member, member.__memory_operation__)
            for name, member in cls.__dict__.items()
            if hasattr(member, "__memory_operation__")
        }
        table: dict[str, Operation] = {}
        for klass in reversed(cls.__mro__):
            table.update(klass.__dict__.get("_declared_here", {}))
        cls._operations = MappingProxyType(table)


def operations_of(kind: type[Declarations] | Declarations) -> Mapping[str, Operation]:
    """Every operation declared for ``kind`` (a class or an instance), by name."""
    return (kind if isinstance(kind, type) else type(kind))._operations


class Caller(Declarations):
    """Base of the classes whose operation methods are generated from the declarations."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, op in cls._operations.items():
            if inspect.getattr_static(cls, name, None) is op.declared:
                setattr(cls, name, _calling(op, cls))

    async def perform(self, op: Operation, arguments: dict[str, Any]) -> Any:
        """Carry out ``op`` with checked ``arguments``; its result."""
        raise NotImplementedError


def _calling(op: Operation, owner: type) -> Callable[..., Any]:
    async def call(self: Caller, *args: Any, **kwargs: Any) -> Any:
        return await self.perform(op, op.validate(op.bind(args, kwargs)))

    call.__name__ = op.name
    call.__qualname__ = f"{owner.__qualname__}.{op.name}"
    call.__doc__ = op.declared.__doc__
    call.__signature__ = op.signature  # type: ignore[attr-defined]
    call.__annotations__ = dict(op.declared.__annotations__)
    return call


class Implementation(Declarations):
    """Base of the class that implements the declared operations (MemoryEngine)."""

    writes: gate.WriteGate

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, op in cls._operations.items():
            method = cls.__dict__.get(name)
            if method is None or op.flags.access == "read" or hasattr(method, "__gated__"):
                continue
            gated = gate.through(method, alone=op.flags.access == "alone")
            gated.__gated__ = op.flags.access  # type: ignore[attr-defined]
            setattr(cls, name, gated)

    async def perform(self, op: Operation, arguments: dict[str, Any]) -> Any:
        """Carry out ``op``: the method of its name, with ``arguments`` as keywords."""
        return await getattr(self, op.name)(**arguments)


def mismatches(cls: type[Implementation]) -> list[str]:
    """What in ``cls`` does not implement its declared operations as declared (empty: all do)."""
    problems = []
    for name, op in cls._operations.items():
        method = inspect.getattr_static(cls, name, None)
        if method is None or method is op.declared:
            problems.append(f"{name}: not implemented")
            continue
        problems += [f"{name}: {problem}" for problem in op.problems_with(method)]
    return problems
