"""Stand-in for MicroPython's ubinascii."""
import binascii


def a2b_base64(data):
    return binascii.a2b_base64(data)
