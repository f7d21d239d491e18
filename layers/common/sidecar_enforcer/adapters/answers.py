"""How a session's clients read AWS's JSON answers: what botocore's own JSON parser returns, for less
of the client's CPU. A fleet run reads thousands of answers (10 services a DescribeServices, a task
definition a DescribeTaskDefinition), and reading them was most of its CPU after the requests
themselves.

- A structure is read by the keys the answer holds, not by every member its shape declares.
  botocore's ``JSONParser._handle_structure`` looks up each declared member (ECS's ``Service``
  declares about 40, a container definition about 60, and an answer holds a third of them): a
  member absent or null is left out by both, a key the model does not declare is dropped by both.
  Each structure's members are indexed by their wire name once per shape, kept on the shape (it
  lives as long as its client's model). Documents and tagged unions (``__type``) go to botocore's own code.
- A member or list item of a scalar type that the JSON protocol passes through as it is (string,
  integer, boolean, float, ...) is taken as it is; any other's handler is looked up once per shape,
  not by name for each value (botocore's ``_parse_shape``).
- A timestamp given as epoch seconds (every JSON API's, ECS's among them) is read with
  ``datetime`` itself, in UTC: botocore's general parser takes about 25 times the CPU. Any other
  form goes to botocore's own parser.

Installed through the session's ``response_parser_factory`` component (``register_component``,
botocore's extension point for its components): every other protocol (query, XML, REST) is
botocore's own parser, given the same timestamp parser. tests/unit/test_answers.py holds the
output equal to botocore's on every output of the JSON services the enforcer calls (ECS, DynamoDB,
SQS, SSM) and on the corpus's task definitions.

IAM actions used: none (``PERMISSIONS``): it reads answers the other adapters asked for.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.parsers import JSONParser, ResponseParserFactory
from botocore.utils import parse_timestamp

PERMISSIONS: tuple[str, ...] = ()

# The JSON protocol's handlers that change a value (JSONParser's _handle_<type>); every other type
# is passed through as it is (ResponseParser._default_handle).
_HANDLED = frozenset({"structure", "list", "map", "timestamp", "blob"})

# How a value of a shape is read: its parser's handler (called with the parser, the shape and the
# value), or None when it is passed through as it is.
_Handler = Callable[[Any, Any, Any], Any] | None
_Member = tuple[str, Any, _Handler]  # (member name, its shape, its handler)
_INDEX = "_sidecar_enforcer_members"  # the attribute that keeps a structure's index on it
_ITEMS = "_sidecar_enforcer_items"  # ... and a list's items' handler


def fast_parsing(core: botocore.session.Session) -> None:
    """The session's clients read JSON answers with :class:`JsonAnswers` and epoch timestamps with
    :func:`timestamp`."""
    core.register_component("response_parser_factory", _Factory())


def timestamp(value: Any) -> datetime.datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.datetime.fromtimestamp(value, datetime.UTC)
        except (OverflowError, OSError, ValueError):
            pass  # out of the platform's range: botocore's own fallbacks
    return parse_timestamp(value)


class _Factory(ResponseParserFactory):
    def __init__(self) -> None:
        super().__init__()
        self.set_parser_defaults(timestamp_parser=timestamp)

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":  # botocore's JSONParser (PROTOCOL_PARSERS)
            return JsonAnswers(timestamp_parser=timestamp)
        return super().create_parser(protocol_name)


def _handler(shape: Any) -> _Handler:
    if shape.type_name not in _HANDLED:
        return None
    handler: _Handler = getattr(JsonAnswers, f"_handle_{shape.type_name}")
    return handler


def _members(shape: Any) -> dict[str, _Member]:
    """The structure's members by wire name, kept on the shape (it lives as long as its model)."""
    index: dict[str, _Member] | None = shape.__dict__.get(_INDEX)
    if index is None:
        index = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            index[wire] = (name, member, _handler(member))
        shape.__dict__[_INDEX] = index
    return index


def _items(shape: Any) -> tuple[Any, _Handler]:
    """The list's item shape and its handler, kept on the shape."""
    items: tuple[Any, _Handler] | None = shape.__dict__.get(_ITEMS)
    if items is None:
        items = shape.__dict__[_ITEMS] = (shape.member, _handler(shape.member))
    return items


_Stock: Any = JSONParser  # its private handlers are not in botocore's type stubs


class JsonAnswers(_Stock):  # type: ignore[misc]
    """botocore's JSON parser, reading a structure by the keys its answer holds."""

    def _handle_structure(self, shape: Any, value: Any) -> Any:
        if value is None or shape.is_document_type or shape.is_tagged_union:
            return _Stock._handle_structure(self, shape, value)
        parsed = {}
        members = _members(shape)
        for key, raw in value.items():
            member = members.get(key)
            if member is None or raw is None:
                continue
            name, member_shape, handler = member
            parsed[name] = raw if handler is None else handler(self, member_shape, raw)
        return parsed

    def _handle_list(self, shape: Any, node: Any) -> Any:
        member, handler = _items(shape)
        if handler is None:  # botocore keeps a null item as None, and any other as it is
            return list(node)
        return [None if item is None else handler(self, member, item) for item in node]
