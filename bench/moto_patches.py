"""Patches to moto's server for the backfill bench, applied inside moto's own process only
(:mod:`bench.moto_process`), never in the tests' in-process moto.

Moto (5.2) spends milliseconds of CPU on each request that AWS's endpoints do not: a DescribeServices
of ten services with their tags costs it 10-20 ms, a DescribeTaskDefinition 4-9 ms, on this machine.
py-spy on moto's request threads (the 1,000-service fleet, DescribeServices in a loop):
``ResponseSerializer.serialize`` 61% of the samples, within it ``AttributePicker.__call__`` 30% and
``XFormedAttributePicker.get_possible_keys`` 17%; ``list_of_moto_modules`` 4.5%. The bench's
clients are bound by that CPU, not by the 30 ms the proxy adds, so it measured moto more than them.

Each patch below removes such a cost, changes no answer (``tests/unit/test_bench_moto.py`` compares
every answer the bench's requests get, byte for byte, with and without them), and grows with
nothing in the fleet. Both tools (our backfill and Cloud Custodian) send their requests to the same
patched server through the same proxy: a patch speeds them alike; it cannot favour one.

Looked at and left alone, because they cost the bench's runs nothing worth a patch:

- ``ECSBackend.list_services`` scans every service of the Region per call (AWS lists a cluster's):
  0.6 ms at 1,000 services, 1.3 ms at 10,000, 100 calls in a 10,000-service run (~0.1 s of it);
- ``ECSBackend._get_resource`` scans every service for a service ARN (ListTagsForResource,
  TagResource): 2 ms at 1,000, 23 ms at 10,000, but neither tool sends those requests here (both
  read tags with DescribeServices include=TAGS); DescribeServices and DescribeTaskDefinition are
  dictionary lookups;
- werkzeug (moto's server) answers every request with ``Connection: close``: a TCP connection and
  a thread per request, ~1.5-2 ms of moto's CPU a request. Its request log line is formatted and
  then dropped (werkzeug's logger at ERROR): negligible.

``apply()`` applies them for good (moto's process); ``applied()`` for a block (the tests).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

Patch = tuple[object, str, Callable[[Any], Any]]  # (owner, attribute, new value from the old one)


def _modules_listed_once(original: Callable[[], Any]) -> Callable[[], tuple[str, ...]]:
    """``moto.backends.list_of_moto_modules``: moto's server calls it for every request (twice:
    ``DomainDispatcherApplication.get_backend_for_host``, to ask whether the request's host names a
    moto module), and each call lists moto's package directory and stats its ~170 entries. An AWS
    endpoint routes a request without touching a disk; the directory does not change while the
    server runs: listed once, the same names."""
    listed: list[tuple[str, ...]] = []
    lock = threading.Lock()

    def list_of_moto_modules() -> tuple[str, ...]:
        if not listed:
            with lock:
                if not listed:
                    listed.append(tuple(original()))
        return listed[0]

    return list_of_moto_modules


def _pure_alias_providers() -> frozenset[type]:
    from moto.core import serialize

    return frozenset(
        {
            serialize.ExplicitAlias,
            serialize.ShapeNameAlias,
            serialize.NoAlias,
            serialize.ShapePrefixAlias,
            serialize.ClassPrefixAlias,
            serialize.ModelAlias,
        }
    )


def _possible_keys_memoized(original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``moto.core.serialize.AttributePicker.get_possible_keys`` (and XFormedAttributePicker's):
    moto's response serializer walks the botocore output shape and, for every member of every
    structure of every answer (686 members for a DescribeServices of ten services), works out anew
    which attribute names of the Python object may hold it: six alias-provider objects built and
    asked, then ``xform_name`` of each. The answer depends only on the picker's class and providers,
    the object's class (and its ``Meta``), the member's shape and its parent shape, and the key, and
    the shapes are moto's cached service model's (``get_service_model`` is ``functools.cache``d): it
    is worked out once per such combination and reused. The values are still read from each object
    on every request, the response transformers (ECS's include=TAGS) still run on every request.
    AWS serializes from compiled code; this leaves moto's serializer doing its own work, once.

    Only pickers whose providers are all moto's own (each a function of those inputs alone) are
    memoized; any other picker is asked as before."""
    pure = _pure_alias_providers()
    memo: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def get_possible_keys(self: Any, context: Any) -> Any:
        providers = tuple(self.alias_providers)
        if not pure.issuperset(providers):
            return original(self, context)
        obj, shape = context.obj, context.shape
        try:
            key = (
                type(self),
                providers,
                type(obj),
                getattr(obj, "Meta", None),
                shape,
                getattr(shape, "parent", None),
                context.key,
            )
            found = memo.get(key)
        except TypeError:  # something unhashable (a Meta that is not a class): not memoized
            return original(self, context)
        if found is None:
            found = memo[key] = tuple(original(self, context))
        return found

    return get_possible_keys


def patches() -> list[Patch]:
    from moto import backends
    from moto.core import serialize

    return [
        (backends, "list_of_moto_modules", _modules_listed_once),
        (serialize.AttributePicker, "get_possible_keys", _possible_keys_memoized),
        (serialize.XFormedAttributePicker, "get_possible_keys", _possible_keys_memoized),
    ]


def _name(owner: object, attribute: str) -> str:
    """``moto.backends.list_of_moto_modules``, ``moto.core.serialize.AttributePicker.get_possible_keys``"""
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}.{attribute}"
    return f"{getattr(owner, '__name__', owner)}.{attribute}"


def apply() -> list[str]:
    """Every patch, for good; the names of what was patched."""
    names = []
    for owner, attribute, make in patches():
        setattr(owner, attribute, make(vars(owner)[attribute]))
        names.append(_name(owner, attribute))
    return names


@contextlib.contextmanager
def applied() -> Iterator[list[str]]:
    """Every patch for the block's duration, then moto as it was."""
    saved = [(owner, attribute, vars(owner)[attribute]) for owner, attribute, _ in patches()]
    try:
        yield apply()
    finally:
        for owner, attribute, value in saved:
            setattr(owner, attribute, value)
