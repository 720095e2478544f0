"""Drives a camera with the official OpenMV client (PyPI `openmv`, used as a library).

Usage: python openmv_client_check.py PORT LIVE_SCRIPT

Connects to PORT as the OpenMV IDE's own client would, runs a print() script and reads
its stdout, then runs visreg's live workload with streaming on and reads one frame.
Prints one JSON line with what it saw; exits non-zero (with the reason) on any failure.
Every wait has a deadline.
"""

import enum
import json
import re
import sys
import time

if sys.version_info < (3, 12):
    # openmv 1.0.7 tests `int in SomeEnum` when it logs packets and events, which only
    # Python 3.12 allows (3.11 raises TypeError and the client exits). Give 3.11 the 3.12
    # semantics: membership by value. This touches no protocol code.
    def _contains(cls, value):
        if isinstance(value, cls):
            return True
        try:
            cls(value)
            return True
        except (ValueError, TypeError):
            return False

    enum.EnumMeta.__contains__ = _contains

from openmv.camera import Camera  # noqa: E402


def wait_for(what, fn, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.01)
    raise SystemExit("timed out after %.1f s waiting for %s" % (seconds, what))


def main():
    port, live_script = sys.argv[1], sys.argv[2]
    report = {}
    with Camera(port, timeout=1.0) as cam:
        report["firmware"] = ".".join(str(v) for v in cam.verinfo["firmware_version"])
        report["protocol"] = ".".join(str(v) for v in cam.verinfo["protocol_version"])
        report["usb"] = "%04X:%04X" % (cam.sysinfo["usb_vid"], cam.sysinfo["usb_pid"])
        report["channels"] = sorted(cam.channels_by_name)

        cam.exec('print("hello from the official client")\n')
        out = ""

        def hello():
            nonlocal out
            text = cam.read_stdout()
            if text:
                out += text
            return "hello from the official client" in out

        wait_for("the print() output", hello, 5)
        report["stdout"] = out.strip()

        with open(live_script) as f:
            script = f.read()
        config = {"family": "tag36h11", "fx": 224.9, "fy": 227.6, "cx": 160.0, "cy": 120.0,
                  "frames": 3, "deadline_ms": 5000}
        script = re.sub(r"^CONFIG = json\.loads\('.*'\)$",
                        "CONFIG = json.loads('%s')" % json.dumps(config), script, flags=re.M)
        cam.exec(script)
        cam.streaming(True)
        frame = wait_for("a frame", cam.read_frame, 5)
        report["frame"] = {"width": frame["width"], "height": frame["height"],
                           "format": "0x%08X" % frame["format"], "rgb_bytes": len(frame["data"])}
        if cam.has_channel("visreg"):
            data = cam.channel_read("visreg")
            if data:
                n = int.from_bytes(bytes(data[:4]), "little")
                report["live_result"] = json.loads(bytes(data[4:4 + n]).decode())
        cam.stop()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
