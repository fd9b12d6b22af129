#!/usr/bin/env python3
"""Concatenates the channels of two activation tensors (.npy, N x C x H x W,
the same N, H, W and dtype): all of A's channels, then the first K of B's.

Used to make a 24-channel map (16 + 8) from fashion_resnet's 16-channel
ones, the channel count for which `--block hw` gives blocks of 8 (see
docs/performance.md, "Small blocks merged"). Plain Python, no numpy.

    concat_channels.py OUT.npy A.npy B.npy K
"""
import ast
import struct
import sys


def load(path):
    raw = open(path, "rb").read()
    if raw[:6] != b"\x93NUMPY":
        sys.exit(f"{path}: not an .npy file")
    major = raw[6]
    (hlen, start) = (struct.unpack("<H", raw[8:10])[0], 10) if major == 1 else (struct.unpack("<I", raw[8:12])[0], 12)
    header = ast.literal_eval(raw[start:start + hlen].decode("latin1"))
    if header["fortran_order"] or len(header["shape"]) != 4:
        sys.exit(f"{path}: want a C-order N x C x H x W array, got {header}")
    return header, raw[start + hlen:]


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    out, a_path, b_path, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    (ha, da), (hb, db) = load(a_path), load(b_path)
    (n, ca, h, w), (nb, cb, hb_, wb) = ha["shape"], hb["shape"]
    if (n, h, w, ha["descr"]) != (nb, hb_, wb, hb["descr"]) or not 0 < k <= cb:
        sys.exit(f"shapes {ha['shape']} {ha['descr']} and {hb['shape']} {hb['descr']} do not fit (K = {k})")
    plane = h * w * int(ha["descr"][2:])
    body = bytearray()
    for i in range(n):
        body += da[i * ca * plane:(i + 1) * ca * plane]
        body += db[i * cb * plane:(i * cb + k) * plane]
    header = repr({"descr": ha["descr"], "fortran_order": False, "shape": (n, ca + k, h, w)}).encode("latin1")
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    with open(out, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(body))


if __name__ == "__main__":
    main()
