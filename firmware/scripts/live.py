# visreg-workload: live 1
# visreg's live workload: the camera captures CONFIG["frames"] frames from its sensor,
# runs find_apriltags on each with the intrinsics in CONFIG and reports the result. On
# firmware >= 5.0 (protocol v2) each result goes out on the channel "visreg" as a bundle
# (u32 length, JSON line, then the VRF1 frame it was computed on), so the host scores the
# very pixels the camera saw; the script waits (up to deadline_ms) until the host has read
# a bundle before the next capture. On 4.x (no protocol module) the JSON line is printed.
# Contract: firmware/scripts/README.md.
#
# API sources: csi.CSI() on 5.x (OpenMV PyPI client 1.0.7, openmv/cli.py test_script),
# the sensor module on 4.x (OpenMV documentation); protocol.register as in replay.py.
# Self-contained on purpose: the host sends this one file, so the helpers below are
# repeated in each workload script rather than imported from a module on the camera.
import gc
import json
import struct
import time

import image

try:
    import protocol
except ImportError:
    protocol = None

CONFIG = json.loads('{"family": "tag36h11", "fx": 224.9, "fy": 227.6, "cx": 160.0, "cy": 120.0, "frames": 100, "deadline_ms": 5000}')

GRAYSCALE = 0x08020001

TAG_FIELDS = ("id", "family", "name", "cx", "cy", "cxf", "cyf", "rotation",
              "decision_margin", "hamming", "goodness",
              "x_translation", "y_translation", "z_translation",
              "x_rotation", "y_rotation", "z_rotation")


def value(obj, name):
    v = getattr(obj, name)
    return v() if callable(v) else v


def tag_dict(t):
    d = {}
    for f in TAG_FIELDS:
        d[f] = value(t, f)
    d["corners"] = [[int(c[0]), int(c[1])] for c in value(t, "corners")]
    d["rect"] = [int(v) for v in value(t, "rect")]
    return d


def camera():
    try:
        import csi
        cam = csi.CSI()
        cam.reset()
        cam.pixformat(csi.GRAYSCALE)
        cam.framesize(getattr(csi, CONFIG.get("framesize", "QVGA")))
        return cam.snapshot
    except ImportError:
        import sensor
        sensor.reset()
        sensor.set_pixformat(sensor.GRAYSCALE)
        sensor.set_framesize(getattr(sensor, CONFIG.get("framesize", "QVGA")))
        sensor.skip_frames(time=500)
        return sensor.snapshot


class BundleChannel:
    def __init__(self):
        self.bundle = b""

    def size(self):
        return len(self.bundle)

    def poll(self):
        return len(self.bundle) > 0

    def read(self, offset, size):
        out = self.bundle[offset:offset + size]
        if offset + size >= len(self.bundle):
            self.bundle = b""
        return out


def main():
    family = getattr(image, CONFIG["family"].upper())
    snapshot = camera()
    channel = None
    if protocol is not None:
        channel = BundleChannel()
        protocol.register(name="visreg", backend=channel)
    print(json.dumps({"event": "ready", "workload": "live"}))
    for n in range(CONFIG.get("frames", 1)):
        img = snapshot()
        t0 = time.ticks_us()
        tags = img.find_apriltags(families=family, fx=CONFIG["fx"], fy=CONFIG["fy"], cx=CONFIG["cx"], cy=CONFIG["cy"])
        t_us = time.ticks_diff(time.ticks_us(), t0)
        line = json.dumps({"frame": n, "t_us": t_us, "mem_free": gc.mem_free(),
                           "tags": [tag_dict(t) for t in tags]})
        if channel is None:
            print(line)
            continue
        body = (line + "\n").encode()
        w, h = img.width(), img.height()
        pixels = img.bytearray()
        header = b"VRF1" + struct.pack("<IIIIIII", n, w, h, GRAYSCALE, len(pixels), 0, 0)
        channel.bundle = struct.pack("<I", len(body)) + body + header + bytes(pixels)
        start = time.ticks_ms()
        while channel.bundle:
            if time.ticks_diff(time.ticks_ms(), start) > CONFIG.get("deadline_ms", 5000):
                print(json.dumps({"frame": n, "error": "the host did not read the result within %d ms" % CONFIG.get("deadline_ms", 5000)}))
                return
            time.sleep_ms(1)
        gc.collect()
    print(json.dumps({"event": "done"}))


main()
