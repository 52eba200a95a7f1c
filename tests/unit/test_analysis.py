"""The canary analysis: figures per release from the access log, and the verdict of the
canary's figures against the stable release's under the [analysis] thresholds."""

from __future__ import annotations

from pathlib import Path

from releases_cli.serving.accesslog import Cursor, Hit, read_since
from releases_cli.serving.analysis import Counts, Figures, Thresholds, count, judge, tally

T = Thresholds()  # max_error_rate 1%, error_ratio 2, p95_ratio 1.5, min_requests 50


def hits(port: int, statuses: list[int], ms: list[int] | None = None) -> list[Hit]:
    times = ms or [10] * len(statuses)
    return [Hit(1.0, port, s, t / 1000, None) for s, t in zip(statuses, times, strict=True)]


def test_tally_counts_each_release_by_the_port_that_answered() -> None:
    """Requests, 5xx answers and the p95 per release; hits of ports no release has (nginx's
    own 502s, static files, another app) count for none; a release without hits has zeros."""
    found = tally(
        hits(3001, [200, 500, 503, 404])
        + hits(3002, [200, 200])
        + hits(9999, [500])
        + [Hit(1.0, None, 502, 0.0, None)],
        {3001: "v2", 3002: "v1", 3003: "v0"},
    )
    assert found == {
        "v2": Figures(4, 2, 10),
        "v1": Figures(2, 0, 10),
        "v0": Figures(0, 0, 0),
    }


def test_p95_is_the_nearest_rank() -> None:
    """Of 100 requests taking 1..100 ms the p95 is 95 ms; of 20 it is the 19th; of one, that
    one; milliseconds are rounded from nginx's seconds."""
    assert tally(hits(1, [200] * 100, list(range(100, 0, -1))), {1: "a"})["a"].p95_ms == 95
    assert tally(hits(1, [200] * 20, list(range(1, 21))), {1: "a"})["a"].p95_ms == 19
    assert tally(hits(1, [200], [7]), {1: "a"})["a"].p95_ms == 7
    assert tally([Hit(1.0, 1, 200, 0.0125, None)], {1: "a"})["a"].p95_ms == 12


def test_counts_add_up_across_reads_as_one_tally(tmp_path: Path) -> None:
    """A window read in pieces (the log read with a small limit) gives the same figures as all
    of it at once."""
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f'{i}.000 {500 if i % 7 == 0 else 200} 0.{i % 1000:03d} "127.0.0.1:{3001 + i % 2}" ""\n'
            for i in range(5000)
        )
    )
    ports = {3001: "v1", 3002: "v2"}
    counts: dict[str, Counts] = {}
    cursor = Cursor()
    every: list[Hit] = []
    while True:
        more, after = read_since(log, cursor, 1)  # raised to the smallest limit
        if after == cursor:
            break
        count(more, ports, counts)
        every += more
        cursor = after
    assert {r: c.figures() for r, c in counts.items()} == tally(every, ports)
    assert len(every) == 5000


def test_wait_until_the_canary_has_min_requests() -> None:
    verdict = judge(Figures(49, 49, 5000), Figures(1000, 0, 10), T)
    assert verdict.decision == "wait" and "49 of 50" in verdict.reason


def test_errors_fail_only_above_the_rate_and_the_ratio() -> None:
    """5xx share above max_error_rate AND above error_ratio times the stable's: fail; at the
    rate, or not above twice the stable's, it passes."""
    stable = Figures(1000, 10, 10)  # 1%
    assert judge(Figures(100, 3, 10), stable, T).decision == "fail"  # 3% > 1%, > 2 x 1%
    assert judge(Figures(100, 2, 10), stable, T).decision == "pass"  # 2%: not above 2 x 1%
    assert judge(Figures(100, 1, 10), Figures(1000, 0, 10), T).decision == "pass"  # at 1%
    failed = judge(Figures(200, 40, 10), Figures(1000, 0, 10), T)
    assert failed.decision == "fail"
    assert "20.0% 5xx (40 of 200)" in failed.reason and "0.0%" in failed.reason


def test_a_slow_canary_fails_on_its_p95() -> None:
    stable = Figures(1000, 0, 200)
    assert judge(Figures(100, 0, 300), stable, T).decision == "pass"  # exactly 1.5x
    slow = judge(Figures(100, 0, 301), stable, T)
    assert slow.decision == "fail" and "p95 301 ms" in slow.reason and "200 ms" in slow.reason


def test_small_latencies_compare_against_the_floor() -> None:
    """A canary at 12 ms against a stable at 2 ms is no regression: p95s under p95_floor_ms
    count as the floor; above 1.5x the floor it fails and says so."""
    assert judge(Figures(100, 0, 12), Figures(1000, 0, 2), T).decision == "pass"
    assert judge(Figures(100, 0, 150), Figures(1000, 0, 2), T).decision == "pass"
    slow = judge(Figures(100, 0, 151), Figures(1000, 0, 2), T)
    assert slow.decision == "fail" and "the floor" in slow.reason


def test_a_stable_with_too_few_requests_judges_the_error_rate_alone() -> None:
    """After a flip the previous release may have had little traffic: only the canary's 5xx
    share against max_error_rate counts (p95 is not compared), and the reason says so."""
    quiet = Figures(3, 0, 1)
    failed = judge(Figures(100, 2, 10), quiet, T)
    assert failed.decision == "fail" and "alone" in failed.reason and "3 of 50" in failed.reason
    passed = judge(Figures(100, 1, 5000), quiet, T)
    assert passed.decision == "pass" and "alone" in passed.reason
    assert judge(Figures(100, 2, 10), Figures(0, 0, 0), T).decision == "fail"


def test_a_failing_stable_does_not_fail_a_canary_as_bad_as_it() -> None:
    """When the stable release answers 5% 5xx itself, a canary at 8% is not twice as bad."""
    assert judge(Figures(100, 8, 10), Figures(1000, 50, 10), T).decision == "pass"
    assert judge(Figures(100, 11, 10), Figures(1000, 50, 10), T).decision == "fail"


def test_thresholds_are_the_configured_ones() -> None:
    strict = Thresholds(max_error_rate=0.0, error_ratio=1.0, p95_ratio=1.1, min_requests=5)
    assert judge(Figures(5, 1, 10), Figures(5, 0, 10), strict).decision == "fail"
    assert judge(Figures(4, 4, 10), Figures(5, 0, 10), strict).decision == "wait"
    unfloored = Thresholds(p95_ratio=1.1, min_requests=5, p95_floor_ms=0)
    assert judge(Figures(5, 0, 111), Figures(5, 0, 100), unfloored).decision == "fail"
    assert judge(Figures(5, 0, 110), Figures(5, 0, 100), unfloored).decision == "pass"
