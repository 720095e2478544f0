"""Stand-in for OpenMV's `image` module: the names and signatures the workload scripts
use (Image(w, h, pixformat, buffer=...), Image.find_apriltags(families=, fx=, fy=, cx=,
cy=), AprilTag attributes, family flags as on firmware 5.x), recording every call."""

GRAYSCALE = 0x08020001
TAG16H5 = 1
TAG25H9 = 2
TAG36H10 = 4
TAG36H11 = 8
TAGCIRCLE21H7 = 16
TAGCIRCLE49H12 = 32
TAGCUSTOM48H12 = 64
TAGSTANDARD41H12 = 128
TAGSTANDARD52H13 = 256

calls = []
canned = []  # AprilTag objects find_apriltags returns


class AprilTag:
    def __init__(self, id, corners, cxf=10.5, cyf=20.25):
        self.id = id
        self.family = TAG36H11
        self.name = "TAG36H11"
        self.cxf, self.cyf = cxf, cyf
        self.cx, self.cy = int(round(cxf)), int(round(cyf))
        self.rotation = 0.5
        self.decision_margin = 0.8
        self.hamming = 0
        self.goodness = 1.0
        self.x_translation, self.y_translation, self.z_translation = 0.1, -0.2, -8.0
        self.x_rotation, self.y_rotation, self.z_rotation = 3.1, 0.05, 0.5
        self.corners = corners
        xs = [c[0] for c in corners]
        ys = [c[1] for c in corners]
        self.rect = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


class Image:
    def __init__(self, w, h, pixformat, buffer=None, copy_to_fb=False):
        assert pixformat == GRAYSCALE
        assert buffer is not None and len(buffer) == w * h, "buffer must hold w*h gray pixels"
        self._w, self._h, self._buf = w, h, buffer

    def width(self):
        return self._w

    def height(self):
        return self._h

    def bytearray(self):
        return bytearray(self._buf)

    def find_apriltags(self, roi=None, families=TAG36H11, fx=None, fy=None, cx=None, cy=None):
        calls.append({"families": families, "fx": fx, "fy": fy, "cx": cx, "cy": cy,
                      "w": self._w, "h": self._h, "first_pixel": self._buf[0]})
        return list(canned)
