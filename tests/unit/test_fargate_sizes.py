"""Fargate's task sizes against the table in the ECS developer guide ("Task CPU and memory", Linux),
written out here independently of ``domain.ecs.sizes``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sidecar_enforcer.domain.ecs.sizes import FARGATE_SIZES, describe, is_fargate_size, smallest_fargate_size

GIB = 1024


def _steps(low_gib: int, high_gib: int, step_gib: int) -> set[int]:
    return {gib * GIB for gib in range(low_gib, high_gib + 1, step_gib)}


# CPU units -> memory MiB, as the guide lists them (0.25 vCPU: 0.5, 1, 2 GB; 0.5 vCPU: 1-4 GB; ...).
DOCS: dict[int, set[int]] = {
    256: {512, 1024, 2048},
    512: _steps(1, 4, 1),
    1024: _steps(2, 8, 1),
    2048: _steps(4, 16, 1),
    4096: _steps(8, 30, 1),
    8192: _steps(16, 60, 4),
    16384: _steps(32, 120, 8),
}
VALID = sorted((cpu, memory) for cpu, memories in DOCS.items() for memory in memories)


def test_the_documented_table_has_the_documented_number_of_sizes() -> None:
    assert {cpu: len(m) for cpu, m in DOCS.items()} == {
        256: 3,
        512: 4,
        1024: 7,
        2048: 13,
        4096: 23,
        8192: 12,
        16384: 12,
    }
    assert min(DOCS[8192]) == 16384
    assert max(DOCS[8192]) == 61440
    assert max(DOCS[16384]) == 122880


def test_the_module_s_table_is_the_documented_one() -> None:
    assert {cpu: set(memories) for cpu, memories in FARGATE_SIZES.items()} == DOCS


def test_is_fargate_size_agrees_with_the_documents_over_a_grid() -> None:
    cpus = sorted({*DOCS, 0, 1, 128, 255, 257, 384, 768, 1023, 1025, 1536, 3072, 6144, 12288, 16385, 32768})
    memories = range(0, 131072 + 1, 256)
    checked = 0
    for cpu in cpus:
        for memory in memories:
            assert is_fargate_size(cpu, memory) == (memory in DOCS.get(cpu, set())), (cpu, memory)
            checked += 1
    assert checked > 5000
    assert sum(1 for cpu in cpus for memory in memories if is_fargate_size(cpu, memory)) == len(VALID)


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [(256, 4096), (512, 512), (1024, 1024), (2048, 17408), (4096, 31744), (8192, 18432), (16384, 36864)],
)
def test_near_misses_are_not_fargate_sizes(cpu: int, memory: int) -> None:
    assert not is_fargate_size(cpu, memory)


@pytest.mark.parametrize(
    ("cpu", "memory", "expected"),
    [
        (0, 0, (256, 512)),
        (1, 1, (256, 512)),
        (256, 512, (256, 512)),
        (256, 513, (256, 1024)),
        (320, 640, (512, 1024)),  # the jaeger sidecar on a 256/512 task
        (256, 3000, (512, 3072)),  # 0.25 vCPU stops at 2 GB: one more vCPU step, not a GB step
        (512, 4097, (1024, 5120)),
        (1024, 8193, (2048, 9216)),
        (2048, 16385, (4096, 17408)),
        (4096, 30721, (8192, 32768)),  # above 30 GB only 8 vCPU holds it
        (8192, 16384, (8192, 16384)),
        (8192, 16385, (8192, 20480)),  # 4 GB steps at 8 vCPU
        (8193, 1, (16384, 32768)),
        (16384, 122880, (16384, 122880)),
        (16384, 122881, None),
        (16385, 512, None),
    ],
)
def test_smallest_fargate_size_examples(cpu: int, memory: int, expected: tuple[int, int] | None) -> None:
    assert smallest_fargate_size(cpu, memory) == expected


def _holds(size: tuple[int, int], cpu: int, memory: int) -> bool:
    return size[0] >= cpu and size[1] >= memory


@given(st.integers(min_value=0, max_value=20000), st.integers(min_value=0, max_value=140000))
def test_smallest_fargate_size_is_valid_holds_the_request_and_nothing_smaller_does(
    cpu: int, memory: int
) -> None:
    result = smallest_fargate_size(cpu, memory)

    holding = [size for size in VALID if _holds(size, cpu, memory)]
    if result is None:
        assert holding == []
        return
    assert result in VALID
    assert is_fargate_size(*result)
    assert _holds(result, cpu, memory)
    for other in holding:
        assert other[0] >= result[0], (other, result)  # no fewer CPU units holds it
        if other[0] == result[0]:
            assert other[1] >= result[1], (other, result)  # nor the same CPU with less memory


@given(st.sampled_from(VALID))
def test_a_valid_size_is_its_own_smallest_fit(size: tuple[int, int]) -> None:
    assert smallest_fargate_size(*size) == size


def test_describe_names_units() -> None:
    assert describe(512, 1024) == "512 CPU units / 1024 MiB"
    assert describe(None, 1024) == "1024 MiB"
    assert describe(256, None) == "256 CPU units"
    assert describe(None, None) == "no task-level size"
