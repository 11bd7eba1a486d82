"""The quality score of generated digits: an inception-score-like number.

A classifier (a small scikit-learn MLP) is trained on the real 16×16 digits
(the first 80 %). For a set of images it gives ``p(y|x)``; the score is
``exp(mean_x KL(p(y|x) || p(y)))``, between 1 (useless) and 10 (every image
a confident digit, all ten classes equally often). The held-out real digits'
own score is the ceiling a generator can hope for.
"""

import numpy as np

__all__ = ["DigitScorer"]


class DigitScorer:
    """Train once, then :meth:`score` any batch of ``[N, 1, 16, 16]`` images in ``[-1, 1]``."""

    def __init__(self, images, labels, seed=0):
        from sklearn.neural_network import MLPClassifier

        n_train = int(0.8 * len(images))
        self.clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=400, random_state=seed)
        flat = images.reshape(len(images), -1)
        self.clf.fit(flat[:n_train], labels[:n_train])
        self.held_out = images[n_train:]
        self.accuracy = float(self.clf.score(flat[n_train:], labels[n_train:]))

    def probabilities(self, images):
        return self.clf.predict_proba(np.clip(images, -1, 1).reshape(len(images), -1))

    def score(self, images):
        """Inception-like score of ``images``."""
        p = np.clip(self.probabilities(images), 1e-12, 1.0)
        py = p.mean(axis=0, keepdims=True)
        kl = (p * (np.log(p) - np.log(py))).sum(axis=1)
        return float(np.exp(kl.mean()))

    def ceiling(self):
        """The score of the held-out real digits."""
        return self.score(self.held_out)
