"""The API's operations as its OpenAPI document lists them, for tests that go over every one of
them: a route added tomorrow is in the list without anyone writing it down."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

# Values that fill a path parameter which a test does not aim at: valid for its route.
PATH_SAMPLES: dict[str, str] = {
    "fmt": "csv",
    "kind": "employees",
    "day": "2026-12-31",
    "name": "deadlines",
    "role": "operator_staff",
}
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Operation:
    """One method on one path of the OpenAPI document."""

    method: str
    path: str
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        """`GET /api/v1/companies/{company_id}`: how tests name an operation."""
        return f"{self.method} {self.path}"

    @property
    def path_params(self) -> list[str]:
        """Names of the path's parameters, in order."""
        return _PARAM.findall(self.path)

    def parameters(self, where: str) -> list[dict[str, Any]]:
        """The parameters in `where` (path, query, header)."""
        return [p for p in self.spec.get("parameters", []) if p["in"] == where]

    @property
    def json_body(self) -> dict[str, Any] | None:
        """The JSON schema of the request body, when it is JSON."""
        content = self.spec.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        return schema if isinstance(schema, dict) else None

    @property
    def takes_multipart(self) -> bool:
        """Whether the body is a form with a file."""
        return "multipart/form-data" in self.spec.get("requestBody", {}).get("content", {})

    def url(self, **values: object) -> str:
        """The path with its parameters filled: `values` first, else a sample, else 1."""
        return _PARAM.sub(
            lambda m: str(values.get(m.group(1), PATH_SAMPLES.get(m.group(1), 1))), self.path
        )


def operations(app: FastAPI) -> list[Operation]:
    """Every operation of the app's OpenAPI document."""
    found = []
    for path, methods in app.openapi()["paths"].items():
        for method, spec in methods.items():
            found.append(Operation(method.upper(), path, spec))
    return found


@dataclass(frozen=True)
class IntegerInput:
    """An integer a request carries: a path or query parameter, or a member of the JSON body
    (`route` names the members down to it; "[]" steps into a list)."""

    where: str
    route: tuple[str, ...]

    @property
    def name(self) -> str:
        """The parameter or member's own name."""
        return self.route[-1]

    def body_with(self, value: int) -> dict[str, Any]:
        """A body holding `value` at this member (other members left out)."""
        return _nest(list(self.route), value)


def _nest(route: list[str], value: int) -> Any:
    if not route:
        return value
    head, rest = route[0], route[1:]
    if head == "[]":
        return [_nest(rest, value)]
    return {head: _nest(rest, value)}


def integer_inputs(app: FastAPI, operation: Operation) -> list[IntegerInput]:
    """Every integer `operation` takes, wherever it is."""
    schemas = app.openapi()["components"]["schemas"]
    found: list[IntegerInput] = []
    for where in ("path", "query"):
        for parameter in operation.parameters(where):
            if _integers(parameter["schema"], schemas, (), frozenset()):
                found.append(IntegerInput(where, (parameter["name"],)))
    body = operation.json_body
    if body is not None:
        found += [
            IntegerInput("body", route) for route in _integers(body, schemas, (), frozenset())
        ]
    return found


def _integers(
    schema: dict[str, Any], schemas: dict[str, Any], route: tuple[str, ...], seen: frozenset[str]
) -> list[tuple[str, ...]]:
    return list(_walk(schema, schemas, route, seen))


def _walk(
    schema: dict[str, Any], schemas: dict[str, Any], route: tuple[str, ...], seen: frozenset[str]
) -> Iterator[tuple[str, ...]]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _walk(schemas[name], schemas, route, seen | {name})
        return
    if schema.get("type") == "integer":
        yield route
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from _walk(option, schemas, route, seen)
    for name, member in schema.get("properties", {}).items():
        yield from _walk(member, schemas, (*route, name), seen)
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], schemas, (*route, "[]"), seen)
