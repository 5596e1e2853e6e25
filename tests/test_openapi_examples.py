"""Every example in the OpenAPI document is one the API accepts.

`/docs` offers each operation's examples to try: a request body assembled from the schema's
examples (as Swagger UI's "Example Value" does), a media type's own example, a parameter's. Each
is sent here to its operation, against the demo registry, with the token of a role the operation
lets through; the answer may be any 2xx or 4xx but 422, which would mean the API refuses its own
example. Choice points (a list of several examples, a union with several branches that carry
examples) are sent once per alternative."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.runtime import Runtime
from app.demo import load_demo
from tests.builders import token_headers

METHODS = ("get", "put", "post", "delete", "patch")
JSON = "application/json"
# The demo's first company, operator and person; every id in a path is 1, which in the demo is
# the first company's, its first contract's and its first number's.
ROLE_TOKENS: dict[str, dict[str, Any]] = {
    "operator_staff": {"subject": "staff@demo"},
    "company_admin": {"company_id": 1},
    "person": {"subject": "demo-person-1"},
    "operator_system": {"operator_id": 1},
}
NOT_LET_THROUGH = {401, 403}


def escape(token: str) -> str:
    """A JSON Pointer reference token."""
    return token.replace("~", "~0").replace("/", "~1")


def examples_at(node: dict[str, Any]) -> list[Any]:
    """The examples a schema, parameter or media type object carries, in order: `example`,
    then `examples` (a list in a schema, a map of Example Objects elsewhere)."""
    found = [node["example"]] if "example" in node else []
    listed = node.get("examples")
    if isinstance(listed, list):
        found += listed
    elif isinstance(listed, dict):
        found += [item["value"] for item in listed.values() if "value" in item]
    return found


@dataclass
class ExampleBuilder:
    """Builds a value from the examples of a schema; `pick` chooses, per choice point, which
    alternative to take (the first when not said). Records the choice points it met and the
    examples it used, as (pointer, index)."""

    doc: dict[str, Any]
    pick: dict[str, int] = field(default_factory=dict)
    choices: dict[str, int] = field(default_factory=dict)
    used: set[tuple[str, int]] = field(default_factory=set)

    def deref(self, node: dict[str, Any], pointer: str) -> tuple[dict[str, Any], str]:
        while "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
            node = self.doc
            for token in pointer.strip("/").split("/"):
                node = node[token.replace("~1", "/").replace("~0", "~")]
        return node, pointer

    def carries(
        self, node: dict[str, Any], pointer: str, seen: frozenset[str] = frozenset()
    ) -> bool:
        """Whether the schema holds an example anywhere inside it."""
        node, pointer = self.deref(node, pointer)
        if pointer in seen:
            return False
        seen = seen | {pointer}
        if examples_at(node):
            return True
        return any(self.carries(child, p, seen) for child, p in children(node, pointer))

    def choose(self, pointer: str, count: int) -> int:
        if count > 1:
            self.choices[pointer] = count
        return self.pick.get(pointer, 0)

    def build(self, node: dict[str, Any], pointer: str) -> Any:
        node, pointer = self.deref(node, pointer)
        if options := examples_at(node):
            index = self.choose(pointer, len(options))
            self.used.add((pointer, index))
            return options[index]
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return node["enum"][0]
        for key in ("anyOf", "oneOf", "allOf"):
            if key in node:
                branches = [
                    (branch, f"{pointer}/{key}/{i}")
                    for i, branch in enumerate(node[key])
                    if branch.get("type") != "null"
                ]
                carrying = [b for b in branches if self.carries(*b)] or branches[:1]
                return self.build(*carrying[self.choose(f"{pointer}/{key}", len(carrying))])
        if "default" in node:
            return node["default"]
        if node.get("type") == "object" or "properties" in node:
            required = set(node.get("required", []))
            value = {}
            for name, prop in node.get("properties", {}).items():
                at = f"{pointer}/properties/{escape(name)}"
                if name in required or self.carries(prop, at):
                    value[name] = self.build(prop, at)
            return value
        if node.get("type") == "array":
            return [self.build(node["items"], f"{pointer}/items")]
        pytest.fail(
            f"{pointer} is required beside an example but has none of its own: give it an "
            "example, so that the assembled example is one the API accepts"
        )


def children(node: dict[str, Any], pointer: str) -> Iterator[tuple[dict[str, Any], str]]:
    """The sub-schemas of a schema, with their pointers."""
    for name, prop in node.get("properties", {}).items():
        yield prop, f"{pointer}/properties/{escape(name)}"
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for i, branch in enumerate(node.get(key, [])):
            yield branch, f"{pointer}/{key}/{i}"
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield node[key], f"{pointer}/{key}"


def every_choice(
    doc: dict[str, Any], node: dict[str, Any], pointer: str
) -> Iterator[tuple[Any, set[tuple[str, int]]]]:
    """The value built from first choices, then one per other alternative of each choice
    point, with the examples each used."""
    first = ExampleBuilder(doc)
    yield first.build(node, pointer), first.used
    for at, count in first.choices.items():
        for index in range(1, count):
            other = ExampleBuilder(doc, pick={at: index})
            yield other.build(node, pointer), other.used


@dataclass
class ExampleRequest:
    """One request carrying examples: where they are, and what to send."""

    method: str
    path: str
    params: dict[str, Any]
    body: Any
    has_body: bool
    examples: set[tuple[str, int]]

    def describe(self) -> str:
        names = ", ".join(sorted(f"{p}[{i}]" for p, i in self.examples))
        return f"{self.method.upper()} {self.path} with {names}"


def parameter_value(doc: dict[str, Any], parameter: dict[str, Any], pointer: str) -> Any:
    """A plain value for a parameter that carries no example of its own."""
    schema, _ = ExampleBuilder(doc).deref(parameter.get("schema", {}), pointer)
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("format") == "date":
        return "2026-12-31"
    return 1 if schema.get("type") == "integer" else "1"


def example_requests(doc: dict[str, Any]) -> Iterator[ExampleRequest]:
    """Every request that carries one of the document's examples."""
    for path, operations in doc["paths"].items():
        for method in METHODS:
            if method in operations:
                yield from operation_requests(doc, path, method, operations[method])


def operation_requests(
    doc: dict[str, Any], path: str, method: str, operation: dict[str, Any]
) -> Iterator[ExampleRequest]:
    """The requests of one operation that carry examples: one per parameter example, one per
    example of the body's media type, one per alternative of the body's schema examples."""
    at = f"/paths/{escape(path)}/{method}"
    parameters = [
        (p, f"{at}/parameters/{i}") for i, p in enumerate(operation.get("parameters", []))
    ]
    plain = {
        p["name"]: parameter_value(doc, p, f"{pointer}/schema")
        for p, pointer in parameters
        if p.get("required")
    }
    content = operation.get("requestBody", {}).get("content", {})
    has_body = JSON in content
    for parameter, pointer in parameters:
        sites = [(parameter, pointer)]
        if "schema" in parameter:
            sites.append(ExampleBuilder(doc).deref(parameter["schema"], f"{pointer}/schema"))
        for node, site in sites:
            for index, value in enumerate(examples_at(node)):
                body = (
                    ExampleBuilder(doc).build(content[JSON]["schema"], f"{at}/body")
                    if has_body
                    else None
                )
                params = {**plain, parameter["name"]: value}
                yield ExampleRequest(method, path, params, body, has_body, {(site, index)})
    for media_type, media in content.items():
        site = f"{at}/requestBody/content/{escape(media_type)}"
        own = examples_at(media)
        carries = "schema" in media and ExampleBuilder(doc).carries(media["schema"], site)
        if media_type != JSON:
            assert not own, f"{site}: examples of {media_type} are not sent"
            assert not carries, f"{site}: examples of {media_type} are not sent"
            continue
        for index, value in enumerate(own):
            yield ExampleRequest(method, path, plain, value, has_body, {(site, index)})
        if carries:
            for body, used in every_choice(doc, media["schema"], f"{site}/schema"):
                yield ExampleRequest(method, path, plain, body, has_body, used)


def request_example_sites(doc: dict[str, Any]) -> set[tuple[str, int]]:
    """Every example a request can carry, found by reading the whole document: in operations'
    parameters and bodies, and in every component schema a request refers to, however deep."""
    sites: set[tuple[str, int]] = set()
    referenced: set[str] = set()

    def visit(node: Any, pointer: str, *, in_properties: bool = False) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                visit(item, f"{pointer}/{i}")
            return
        if not isinstance(node, dict):
            return
        if not in_properties:
            sites.update((pointer, i) for i in range(len(examples_at(node))))
            if isinstance(node.get("$ref"), str):
                name = node["$ref"].removeprefix("#/components/schemas/")
                if name not in referenced:
                    referenced.add(name)
                    schema = doc["components"]["schemas"][name]
                    visit(schema, f"/components/schemas/{escape(name)}")
        for key, value in node.items():
            if key in ("example", "examples") and not in_properties:
                continue
            visit(value, f"{pointer}/{escape(key)}", in_properties=key == "properties")

    for path, operations in doc["paths"].items():
        for method in METHODS:
            operation = operations.get(method, {})
            at = f"/paths/{escape(path)}/{method}"
            for key in ("parameters", "requestBody"):
                if key in operation:
                    visit(operation[key], f"{at}/{key}")
    return sites


def send(client: TestClient, request: ExampleRequest, headers: dict[str, str]) -> httpx.Response:
    path = request.path
    query = {}
    for name, value in request.params.items():
        if "{" + name + "}" in path:
            path = path.replace("{" + name + "}", str(value))
        else:
            query[name] = value
    if request.has_body:
        return client.request(
            request.method, path, params=query, json=request.body, headers=headers
        )
    return client.request(request.method, path, params=query, headers=headers)


@pytest.fixture
def demo_client(client: TestClient, runtime: Runtime) -> TestClient:
    load_demo(runtime)
    return client


class TestEveryExampleIsAccepted:
    def test_each_example_sent_to_its_operation_gets_no_422(self, demo_client: TestClient) -> None:
        client = demo_client
        app: FastAPI = client.app  # type: ignore[assignment]
        tokens = {
            role: token_headers(client, role=role, **body) for role, body in ROLE_TOKENS.items()
        }
        requests = list(example_requests(app.openapi()))
        assert requests, "the document carries examples"
        refused = []
        for request in requests:
            for role, headers in tokens.items():  # noqa: B007 (the role let through is named)
                response = send(client, request, headers)
                if response.status_code not in NOT_LET_THROUGH:
                    break
            else:
                refused.append(f"{request.describe()}: no demo role is let through")
                continue
            if response.status_code == 422:
                refused.append(f"{request.describe()} as {role}: {response.text}")
            elif request.has_body:
                # The same call with a body of the wrong shape must be a 422: the role got as
                # far as validation, so a refused example would have shown.
                control = send(client, replace(request, body=[]), headers)
                assert control.status_code == 422, (request.describe(), role, control.text)
        assert not refused, "\n".join(refused)

    def test_every_example_a_request_can_carry_is_sent(self, app: FastAPI) -> None:
        doc = app.openapi()
        sent = set(itertools.chain.from_iterable(r.examples for r in example_requests(doc)))
        missing = request_example_sites(doc) - sent
        assert not missing, f"examples never sent: {sorted(missing)}"

    def test_the_sites_include_the_company_inn(self, app: FastAPI) -> None:
        sites = {pointer for pointer, _ in request_example_sites(app.openapi())}
        assert "/components/schemas/SubscriberCreate/properties/inn" in sites
