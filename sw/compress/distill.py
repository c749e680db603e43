"""Knowledge distillation (Hinton, Vinyals and Dean, 2015).

A small student learns from a trained teacher's softened outputs:
``softmax(logits / T)`` at a temperature ``T > 1`` shows which wrong
classes the teacher finds similar (a 7 that looks like a 1), information the
one-hot labels lack. The loss mixes the soft targets with the labels
(``sw.train.nn.loss_gradient``).
"""

from sw.train import nn

__all__ = ["distill"]


def distill(teacher, student, x, y, *, temperature=4.0, alpha=0.9, epochs=10, lr=0.05,
            batch=64, seed=0, evaluate=None, progress=None):
    """Train ``student`` in place on ``teacher``'s soft targets; per-epoch accuracies."""
    if temperature <= 0:
        raise ValueError(f"the temperature must be positive, not {temperature}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha (the soft targets' weight) is in [0, 1], not {alpha}")
    soft = nn.logits(teacher, x)
    return nn.train(student, x, y, epochs=epochs, lr=lr, batch=batch, seed=seed, soft=soft,
                    temperature=temperature, alpha=alpha, evaluate=evaluate, progress=progress,
                    label=f"student with teacher (T={temperature:g})")
