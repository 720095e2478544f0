"""Stand-in for MicroPython's time: a virtual millisecond clock that advances on
sleep_ms, and a hook the test sets to act (as the host) whenever the script waits."""

now_us = 0
hook = None


def ticks_us():
    return now_us


def ticks_ms():
    return now_us // 1000


def ticks_diff(a, b):
    return a - b


def sleep_ms(ms):
    global now_us
    now_us += ms * 1000
    if hook is not None:
        hook()
