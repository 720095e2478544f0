"""The workload scripts run under CPython against stand-ins that follow the OpenMV API,
with the test acting as the host, so a syntax or logic slip in a script fails CI."""

import base64
import importlib
import importlib.util
import json
import os
import re
import struct
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)

CONFIG_LINE = re.compile(r"^CONFIG = json\.loads\('(.*)'\)$", re.M)


def load(name, config=None, frame=None):
    """The script text with CONFIG (and FRAME) filled in as the host does."""
    with open(os.path.join(SCRIPTS, name)) as f:
        text = f.read()
    first = text.splitlines()[0]
    assert first.startswith("# visreg-workload: "), first
    m = CONFIG_LINE.search(text)
    assert m, "no CONFIG line"
    json.loads(m.group(1))  # the template's own config parses
    if config is not None:
        text = CONFIG_LINE.sub(lambda _: "CONFIG = json.loads('%s')" % json.dumps(config), text)
    if frame is not None:
        text = re.sub(r"^FRAME = ubinascii\.a2b_base64\(b'.*'\)$",
                      lambda _: "FRAME = ubinascii.a2b_base64(b'%s')" % base64.b64encode(frame).decode(),
                      text, flags=re.M)
    return text


STANDINS = ("image", "protocol", "time", "gc", "csi", "ubinascii")
REAL = {m: sys.modules.get(m) for m in STANDINS}


def fresh_standins():
    """Loads the stand-ins by path: `time` and `gc` are built into CPython and would
    otherwise win over a module of the same name on sys.path."""
    mods = {}
    for m in STANDINS:
        spec = importlib.util.spec_from_file_location(m, os.path.join(HERE, "standins", m + ".py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[m] = mod
        spec.loader.exec_module(mod)
        mods[m] = mod
    mods["image"].calls.clear()
    mods["image"].canned.clear()
    mods["protocol"].channels.clear()
    return mods


def run(text):
    printed = []
    env = {"__name__": "__main__", "print": lambda *a: printed.append(" ".join(str(x) for x in a))}
    exec(compile(text, "<script>", "exec"), env)
    return printed


def vrf(index, w, h, px):
    return b"VRF1" + struct.pack("<IIIIIII", index, w, h, 0x08020001, len(px), 0, 0) + px


def restore_real_modules():
    for m, mod in REAL.items():
        if mod is None:
            sys.modules.pop(m, None)
        else:
            sys.modules[m] = mod


class WorkloadTest(unittest.TestCase):
    def tearDown(self):
        restore_real_modules()


CFG = {"family": "tag36h11", "fx": 224.5, "fy": 227.25, "cx": 160.0, "cy": 120.0, "deadline_ms": 100}


class Replay(WorkloadTest):
    def test_chunked_frames_give_one_line_each_and_bad_frames_an_error(self):
        s = fresh_standins()
        s["image"].canned.append(s["image"].AprilTag(7, [(1, 2), (3, 2), (3, 4), (1, 4)]))
        frames = [vrf(i, 4, 2, bytes([i] * 8)) for i in range(3)] + [b"XXXX" + bytes(40)]
        results = []
        state = {"sent": 0, "busy": False}

        def host():
            ch = s["protocol"].channels.get("visreg")
            if ch is None:
                return
            if state["busy"] and ch.size() > 0:
                n = ch.size()
                line = ch.read(0, n // 2) + ch.read(n // 2, n - n // 2)
                # Reading does not consume: a read whose reply the link lost is read again.
                self.assertEqual(ch.read(0, n), line, "read again, the same")
                results.append(json.loads(line.decode()))
                state["busy"] = False
            if not state["busy"] and state["sent"] < len(frames):
                data = frames[state["sent"]]
                for off in range(0, len(data), 5):  # chunked writes at offsets
                    chunk = data[off:off + 5]
                    self.assertEqual(ch.write(off, chunk), len(chunk))
                    # A chunk written again after a lost reply is accepted, not added twice.
                    self.assertEqual(ch.write(off, chunk), len(chunk))
                state["sent"] += 1
                state["busy"] = True

        s["time"].hook = host
        cfg = dict(CFG, idle_ms=50)
        printed = run(load("replay.py", cfg))
        self.assertEqual(json.loads(printed[0]), {"event": "ready", "workload": "replay"})
        self.assertEqual(json.loads(printed[-1])["event"], "idle")
        self.assertEqual([r.get("frame") for r in results], [0, 1, 2, None])
        self.assertIn("magic", results[3]["error"])
        tag = results[0]["tags"][0]
        for key in ("id", "family", "name", "cx", "cy", "cxf", "cyf", "rotation", "decision_margin",
                    "hamming", "goodness", "x_translation", "y_translation", "z_translation",
                    "x_rotation", "y_rotation", "z_rotation", "corners", "rect"):
            self.assertIn(key, tag)
        self.assertEqual(tag["corners"], [[1, 2], [3, 2], [3, 4], [1, 4]])
        call = s["image"].calls[1]
        self.assertEqual((call["families"], call["fx"], call["fy"], call["cx"], call["cy"]),
                         (s["image"].TAG36H11, 224.5, 227.25, 160.0, 120.0))
        self.assertEqual(call["first_pixel"], 1, "the script detects on the frame it received")
        self.assertIn("t_us", results[0])
        self.assertEqual(results[0]["mem_free"], 123456)


class Live(WorkloadTest):
    def test_bundles_carry_the_result_and_the_very_frame(self):
        s = fresh_standins()
        s["csi"].frames[:] = [(4, 2, bytes([10 + i] * 8)) for i in range(3)]
        s["csi"].taken[0] = 0
        bundles = []

        def host():
            ch = s["protocol"].channels.get("visreg")
            if ch is not None and ch.size() > 0:
                bundles.append(ch.read(0, ch.size()))

        s["time"].hook = host
        printed = run(load("live.py", dict(CFG, frames=3)))
        self.assertEqual(json.loads(printed[-1]), {"event": "done"})
        self.assertEqual(len(bundles), 3)
        for i, b in enumerate(bundles):
            n = struct.unpack_from("<I", b, 0)[0]
            result = json.loads(b[4:4 + n].decode())
            self.assertEqual(result["frame"], i)
            frame = b[4 + n:]
            self.assertEqual(frame[:4], b"VRF1")
            index, w, h, fmt, length = struct.unpack_from("<IIIII", frame, 4)
            self.assertEqual((index, w, h, fmt, length), (i, 4, 2, 0x08020001, 8))
            self.assertEqual(frame[32:], bytes([10 + i] * 8))

    def test_an_unread_bundle_ends_the_run_at_the_deadline(self):
        s = fresh_standins()
        s["csi"].frames[:] = [(4, 2, bytes(8))]
        s["time"].hook = None
        printed = run(load("live.py", dict(CFG, frames=2, deadline_ms=20)))
        self.assertIn("did not read", json.loads(printed[-1])["error"])


class ReplayV1(WorkloadTest):
    def test_the_embedded_frame_is_detected_and_done_follows(self):
        s = fresh_standins()
        s["image"].canned.append(s["image"].AprilTag(3, [(0, 0), (2, 0), (2, 1), (0, 1)]))
        cfg = dict(CFG, frame_index=9, width=4, height=2)
        printed = run(load("replay_v1.py", cfg, frame=bytes([5] * 8)))
        result = json.loads(printed[0])
        self.assertEqual((result["frame"], result["tags"][0]["id"]), (9, 3))
        self.assertEqual(s["image"].calls[0]["first_pixel"], 5)
        self.assertEqual(json.loads(printed[1]), {"event": "done"})

    def test_a_frame_of_the_wrong_size_is_an_error_line(self):
        fresh_standins()
        printed = run(load("replay_v1.py", dict(CFG, frame_index=1, width=4, height=2), frame=bytes(3)))
        self.assertIn("FRAME has 3 bytes", json.loads(printed[0])["error"])


if __name__ == "__main__":
    unittest.main()
