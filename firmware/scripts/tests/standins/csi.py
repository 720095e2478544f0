"""Stand-in for OpenMV 5.x's csi module: a camera whose snapshots are test frames."""
import image

GRAYSCALE = 0x08020001
QVGA = "QVGA"
frames = []  # list of (w, h, bytes)
taken = [0]


class CSI:
    def reset(self):
        pass

    def pixformat(self, f):
        assert f == GRAYSCALE

    def framesize(self, s):
        pass

    def snapshot(self):
        w, h, px = frames[taken[0] % len(frames)]
        taken[0] += 1
        return image.Image(w, h, image.GRAYSCALE, buffer=bytearray(px))
