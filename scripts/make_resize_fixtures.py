"""Writes Pillow's resize results for every filter, as PNG files (lossless), so the Rust tests can
check our port of Pillow's Resample.c bit for bit without Python. Needs Pillow (12.x):

    python3 scripts/make_resize_fixtures.py crates/beit/tests/fixtures/images/chelsea.png \
        crates/beit/tests/fixtures/resize

Input: a 61x47 RGB crop (odd sizes) and its greyscale; outputs: each filter at a downscale, an
upscale and a mixed non-integer scale, named <mode>_<filter>_<width>x<height>.png.
"""

import sys
from pathlib import Path

from PIL import Image

FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
SIZES = [(17, 13), (150, 97), (40, 80)]


def main(src, out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rgb = Image.open(src).convert("RGB").crop((100, 60, 161, 107))
    for mode, img in {"rgb": rgb, "grey": rgb.convert("L")}.items():
        img.save(out / f"{mode}_input.png")
        for name, code in FILTERS.items():
            for w, h in SIZES:
                img.resize((w, h), resample=code, reducing_gap=None).save(out / f"{mode}_{name}_{w}x{h}.png")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
