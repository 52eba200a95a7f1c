"""Properties of the retention policy (prune.plan) over arbitrary release sets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from releases_cli.core.prune import Candidate, plan

STATUSES = ("complete", "failed", "incomplete")
REASONS = (None, None, None, "current", "previous (rollback target)", "pinned", "in use by pid 1")


@st.composite
def release_sets(draw: st.DrawFn) -> tuple[list[Candidate], int]:
    """Oldest-first candidates with unique ids, random statuses and protections, and a keep."""
    size = draw(st.integers(min_value=0, max_value=30))
    candidates = [
        Candidate(f"r{i:03d}", draw(st.sampled_from(STATUSES)), draw(st.sampled_from(REASONS)))
        for i in range(size)
    ]
    return candidates, draw(st.integers(min_value=1, max_value=12))


@settings(max_examples=500)
@given(release_sets())
def test_plan_properties(case: tuple[list[Candidate], int]) -> None:
    """For any release set: protected ids are never deleted; the newest `keep` complete
    releases are never deleted; every release is either kept or deleted, once; and exactly the
    unprotected ones that are failed, incomplete or beyond the newest `keep` complete go."""
    candidates, keep = case
    decision = plan(candidates, keep)
    deleted = [i for i, _ in decision.delete]
    kept = [i for i, _ in decision.keep]
    assert sorted(deleted + kept) == sorted(c.id for c in candidates), "each id decided once"
    protected = {c.id for c in candidates if c.protected_because}
    assert not protected & set(deleted)
    complete = [c.id for c in candidates if c.status == "complete"]
    newest = set(complete[-keep:])
    assert not newest & set(deleted)
    expected = {
        c.id
        for c in candidates
        if not c.protected_because and (c.status != "complete" or c.id not in newest)
    }
    assert set(deleted) == expected


@settings(max_examples=300)
@given(release_sets(), st.lists(st.integers(min_value=0, max_value=30), max_size=8))
def test_failed_and_incomplete_never_count(
    case: tuple[list[Candidate], int], positions: list[int]
) -> None:
    """Inserting failed or incomplete releases anywhere never changes which complete releases
    are kept: they never take a slot of `keep`."""
    candidates, keep = case
    baseline = {i for i, _ in plan(candidates, keep).keep}
    mixed = list(candidates)
    for n, position in enumerate(positions):
        status = "failed" if n % 2 else "incomplete"
        mixed.insert(min(position, len(mixed)), Candidate(f"x{n}", status))
    decision = plan(mixed, keep)
    assert {i for i, _ in decision.keep} == baseline
    assert {f"x{n}" for n in range(len(positions))} <= {i for i, _ in decision.delete}
