"""The real data set the reference GANs train on: scikit-learn's handwritten digits.

``load_digits`` ships 1797 8×8 images (values 0–16) inside scikit-learn, so
nothing is downloaded. They are upscaled to 16×16 by bilinear interpolation
and scaled to ``[-1, 1]``.
"""

import numpy as np

__all__ = ["load_digits16", "corrupt"]


def load_digits16():
    """Return ``(images [1797, 1, 16, 16] float64 in [-1, 1], labels [1797] int)``."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = d.images.astype(np.float64) / 16.0
    up = np.stack([zoom(im, 2, order=1, mode="nearest", grid_mode=True) for im in imgs])
    up = np.clip(up, 0.0, 1.0) * 2.0 - 1.0
    return up[:, None, :, :], d.target.astype(np.int64)


def corrupt(images, rng, block=6):
    """The image-to-image task's input: each digit with a random ``block``×``block`` square erased.

    The generator learns to restore the digit (inpainting).
    """
    out = images.copy()
    n, _, h, w = images.shape
    ys = rng.integers(0, h - block + 1, size=n)
    xs = rng.integers(0, w - block + 1, size=n)
    for i in range(n):
        out[i, :, ys[i]:ys[i] + block, xs[i]:xs[i] + block] = -1.0
    return out
