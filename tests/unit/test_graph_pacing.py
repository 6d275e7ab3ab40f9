"""The write pacer keeps Graph's documented budget in every window (FORMATS.md: 3,000 writes per 150 s)."""

from connectors.graph.client import WritePacer, retry_after


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_no_window_ever_holds_more_than_the_budget():
    clock = FakeClock()
    pacer = WritePacer(3000, 150.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(500):  # 10,000 writes in batches of 20
        pacer.acquire(20)
        stamps.extend([clock.now] * 20)
    window = 150.0
    start = 0
    for end in range(len(stamps)):
        while stamps[end] - stamps[start] >= window:
            start += 1
        assert end - start + 1 <= 3000
    elapsed = stamps[-1] - stamps[0]
    assert 3 * window <= elapsed <= 3.3 * window  # 10,000 writes take three full windows and a bit, no more


def test_retry_after_reads_fractional_and_absent_values():
    assert retry_after({"Retry-After": "0.5"}) == 0.5
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({}) is None
    assert retry_after({"Retry-After": "soon"}) is None
