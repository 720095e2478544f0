# visreg-workload: replay_v1 1
# visreg's replay workload for firmware 4.x (protocol v1), which has no script channels:
# the host sends one script per frame with the frame embedded below (base64), and reads
# the result line from stdout. Contract: firmware/scripts/README.md.
# Self-contained on purpose: the host sends this one file, so the helpers below are
# repeated in each workload script rather than imported from a module on the camera.
import gc
import json
import time

import image
import ubinascii

CONFIG = json.loads('{"family": "tag36h11", "fx": 224.9, "fy": 227.6, "cx": 160.0, "cy": 120.0, "frame_index": 0, "width": 0, "height": 0}')
FRAME = ubinascii.a2b_base64(b'')

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


def main():
    index, w, h = CONFIG["frame_index"], CONFIG["width"], CONFIG["height"]
    if len(FRAME) != w * h:
        print(json.dumps({"frame": index, "error": "FRAME has %d bytes, not %dx%d" % (len(FRAME), w, h)}))
    else:
        img = image.Image(w, h, image.GRAYSCALE, buffer=bytearray(FRAME))
        family = getattr(image, CONFIG["family"].upper())
        t0 = time.ticks_us()
        tags = img.find_apriltags(families=family, fx=CONFIG["fx"], fy=CONFIG["fy"], cx=CONFIG["cx"], cy=CONFIG["cy"])
        t_us = time.ticks_diff(time.ticks_us(), t0)
        print(json.dumps({"frame": index, "t_us": t_us, "mem_free": gc.mem_free(),
                          "tags": [tag_dict(t) for t in tags]}))
    print(json.dumps({"event": "done"}))


main()
