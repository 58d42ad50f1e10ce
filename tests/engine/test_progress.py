"""progress.py: the save schedule (on a fake clock) and the optional callback methods."""

from training.engine.progress import SaveSchedule, poll, poller, report_resumed

from .helpers import Recorder


class FakeClock:
    def __init__(self):
        self.now = 1000.0  # seconds; monotonic clocks start anywhere

    def __call__(self) -> float:
        return self.now


def test_every_n_steps_only():
    schedule = SaveSchedule(every_steps=3, every_minutes=0, clock=FakeClock())
    assert [s for s in range(1, 10) if schedule.due(s)] == [3, 6, 9]


def test_every_m_minutes_counts_from_start_then_from_last_save():
    clock = FakeClock()
    schedule = SaveSchedule(every_steps=0, every_minutes=2.0, clock=clock)
    clock.now += 119
    assert not schedule.due(1)  # 1 min 59 s since the start
    clock.now += 1
    assert schedule.due(2)  # 2 min: due, and stays due until a save
    assert schedule.due(3)
    schedule.saved()
    clock.now += 60
    assert not schedule.due(4)  # 1 min since the save
    clock.now += 60
    assert schedule.due(5)


def test_whichever_comes_first():
    clock = FakeClock()
    schedule = SaveSchedule(every_steps=10, every_minutes=1.0, clock=clock)
    due = []
    for step in range(1, 26):
        clock.now += 5 if step <= 15 else 30  # fast steps, then slow ones
        if schedule.due(step):
            due.append(step)
            schedule.saved()
    # 10 by count (50 s in); 17 by time (5·5 + 2·30 = 85 s after the save at 10); 19 by time
    # (60 s); 20 by count (30 s after 19); then 22 and 24 by time
    assert due == [10, 17, 19, 20, 22, 24]


def test_both_off_never_saves():
    clock = FakeClock()
    schedule = SaveSchedule(every_steps=0, every_minutes=0, clock=clock)
    clock.now += 10**6
    assert not any(schedule.due(s) for s in range(1, 1000))


def test_plain_function_callbacks_have_no_poll_or_resumed():
    calls = []

    def callback(step, total, metrics):
        calls.append(step)

    poll(callback)
    report_resumed(callback, 7)
    poll(None)
    report_resumed(None, 7)
    assert calls == [] and poller(None) is None


def test_callback_object_is_polled_and_told_of_the_resume():
    recorder = Recorder()
    poll(recorder)
    poller(recorder)()
    report_resumed(recorder, 7)
    assert recorder.polls == 2 and recorder.resumed_at == [7] and recorder.steps == []
