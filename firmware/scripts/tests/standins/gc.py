"""Stand-in for MicroPython's gc (mem_free and collect)."""


def mem_free():
    return 123456


def collect():
    pass
