# visreg-workload: replay 1
# visreg's replay workload for OpenMV firmware >= 5.0 (protocol v2).
#
# The host writes dataset frames to the channel "visreg" this script registers; for each
# complete frame the script runs find_apriltags with the intrinsics in CONFIG and makes
# one JSON result line available on the same channel. The contract (byte layouts, JSON
# schema) is firmware/scripts/README.md; the host rewrites only the CONFIG line.
#
# API sources: protocol.register(name=..., backend=obj) with backend methods size(),
# read(offset, size), write(offset, data), poll() - the OpenMV PyPI client 1.0.7
# (openmv/cli.py test_script) and openmv/openmv scripts/examples protocol channels;
# image.Image(w, h, image.GRAYSCALE, buffer=...) and Image.find_apriltags(families=,
# fx=, fy=, cx=, cy=) - OpenMV image module documentation.
# Self-contained on purpose: the host sends this one file, so the helpers below are
# repeated in each workload script rather than imported from a module on the camera.
import gc
import json
import struct
import time

import image
import protocol

CONFIG = json.loads('{"family": "tag36h11", "fx": 224.9, "fy": 227.6, "cx": 160.0, "cy": 120.0, "deadline_ms": 5000}')

HEADER = 32
MAGIC = b"VRF1"
GRAYSCALE = 0x08020001
IDLE_MS = CONFIG.get("idle_ms", 600000)

TAG_FIELDS = ("id", "family", "name", "cx", "cy", "cxf", "cyf", "rotation",
              "decision_margin", "hamming", "goodness",
              "x_translation", "y_translation", "z_translation",
              "x_rotation", "y_rotation", "z_rotation")


def value(obj, name):
    # Firmware 5.x exposes AprilTag fields as attributes, 4.x as methods: accept both.
    v = getattr(obj, name)
    return v() if callable(v) else v


def tag_dict(t):
    d = {}
    for f in TAG_FIELDS:
        d[f] = value(t, f)
    d["corners"] = [[int(c[0]), int(c[1])] for c in value(t, "corners")]
    d["rect"] = [int(v) for v in value(t, "rect")]
    return d


def family_flag(name):
    flag = getattr(image, name.upper(), None)
    if flag is None:
        raise ValueError("this firmware has no AprilTag family %s" % name)
    return flag


class ReplayChannel:
    """The "visreg" channel: frames in, one result line out per frame.

    Idempotent, because a USB link loses replies: reading does not consume the result (it
    stays until the next frame's first write), and a chunk the host writes again after
    its reply was lost is accepted without being added twice."""

    def __init__(self):
        self.frame = bytearray()
        self.result = b""
        self.ready = False
        self.received = 0

    def size(self):
        return len(self.result)

    def poll(self):
        return len(self.result) > 0

    def read(self, offset, size):
        return self.result[offset:offset + size]

    def write(self, offset, data):
        if offset == 0:
            self.frame = bytearray()
            self.result = b""
            self.ready = False
            self.received = 0
        if offset != 0 and offset + len(data) == self.received:
            return len(data)
        if offset != len(self.frame):
            return 0
        self.frame.extend(data)
        self.received = len(self.frame)
        if len(self.frame) >= HEADER:
            length = struct.unpack_from("<I", self.frame, 20)[0]
            if bytes(self.frame[0:4]) != MAGIC or len(self.frame) >= HEADER + length:
                self.ready = True
        return len(data)


def error_line(frame, message):
    return json.dumps({"frame": frame, "error": message})


def process(buf, family, cfg):
    if bytes(buf[0:4]) != MAGIC:
        return error_line(None, "bad frame magic (expected VRF1)")
    index, w, h, pixfmt, length = struct.unpack_from("<IIIII", buf, 4)
    if pixfmt != GRAYSCALE or length != w * h or len(buf) < HEADER + length:
        return error_line(index, "frame %dx%d pixfmt 0x%08X with %d bytes is not a GRAYSCALE frame" % (w, h, pixfmt, length))
    img = image.Image(w, h, image.GRAYSCALE, buffer=memoryview(buf)[HEADER:HEADER + length])
    t0 = time.ticks_us()
    tags = img.find_apriltags(families=family, fx=cfg["fx"], fy=cfg["fy"], cx=cfg["cx"], cy=cfg["cy"])
    t_us = time.ticks_diff(time.ticks_us(), t0)
    return json.dumps({"frame": index, "t_us": t_us, "mem_free": gc.mem_free(),
                       "tags": [tag_dict(t) for t in tags]})


def main():
    family = family_flag(CONFIG["family"])
    channel = ReplayChannel()
    protocol.register(name="visreg", backend=channel)
    print(json.dumps({"event": "ready", "workload": "replay"}))
    last = time.ticks_ms()
    while True:
        if channel.ready:
            channel.ready = False
            try:
                line = process(channel.frame, family, CONFIG)
            except Exception as e:  # a bad frame must not end the run
                line = error_line(None, "%s: %s" % (type(e).__name__, e))
            channel.frame = bytearray()
            gc.collect()
            channel.result = (line + "\n").encode()
            last = time.ticks_ms()
        elif time.ticks_diff(time.ticks_ms(), last) > IDLE_MS:
            print(json.dumps({"event": "idle", "error": "no frame from the host for %d ms" % IDLE_MS}))
            return
        else:
            time.sleep_ms(1)


main()
