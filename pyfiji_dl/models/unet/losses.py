"""The U-Net's training losses: binary focal loss and the U-Net paper's border-weighted cross-entropy.

Why not ``tf.keras.losses.BinaryFocalCrossentropy`` (and ``BinaryCrossentropy`` with the
border weights as per-pixel ``sample_weight``): in Keras 2.15 they compute the same formula
but not the same numbers during training.

* Outside a graph, on plain probabilities, Keras clips ``p`` to ``[1e-7, 1 - 1e-7]`` as we do
  and then takes ``ln(p + 1e-7)`` and ``ln(1 - p + 1e-7)``: the only difference from ours,
  a relative change of at most ``1e-7 / p`` per pixel (below 1e-6 for ``p`` in
  [0.05, 0.95]: the "equal to 1e-4" seen before was a loose tolerance, not a different loss),
  but ``ln 2`` per saturated pixel (``p`` clipped to 1e-7).
* In training, the network's output comes from a sigmoid, and Keras' losses then read the
  logits the sigmoid layer attaches to its output (``_keras_logits``,
  ``keras.backend._get_logits``) and switch to ``sigmoid_cross_entropy_with_logits``
  without any clipping, whatever ``from_logits`` says. A confidently wrong pixel (logit
  beyond about +-16) then weighs its full cross-entropy and has a gradient, where ours
  stops at ``-ln(1e-7)`` with none; the weights it trains differ, and so would every U-Net's
  benchmark figures and exported tensors.

``tests/test_unet.py::test_focal_loss_equals_keras_up_to_its_log_epsilon`` shows both: equal to
Keras on probabilities once its ``+ 1e-7`` is added, different on a sigmoid layer's output.
"""

from __future__ import annotations

from .config import UNetConfig


def binary_focal_loss(gamma: float = 2.0, alpha: float = 0.5, epsilon: float = 1e-7):
    """The binary focal loss (Lin et al. 2017) as a Keras loss.

    Per pixel, with ``p`` the predicted foreground probability (clipped to
    ``[epsilon, 1 - epsilon]``) and ``y`` the target (0 or 1)::

        -alpha * y * (1 - p)**gamma * ln(p) - (1 - alpha) * (1 - y) * p**gamma * ln(1 - p)

    averaged over the pixels of each sample (natural logarithm, as Keras'
    ``BinaryFocalCrossentropy(apply_class_balancing=True)``; Salomon-Sörensen 2023 writes log2,
    which only scales the loss by 1/ln 2).

    Parameters
    ----------
    gamma : float
        Focusing: easy pixels (``p`` close to ``y``) count less (default 2, Lin et al. 2017).
    alpha : float
        Weight of the foreground class; 0.5 weighs both classes alike.
    epsilon : float

    Returns
    -------
    callable
        ``loss(y_true, y_pred) -> (batch,)``; ``y_true`` is ``(batch, Y, X, 1)``
        (only its first channel is read), ``y_pred`` ``(batch, Y, X, 1)``.
    """
    def focal_loss(y_true, y_pred):
        import tensorflow as tf

        y = tf.cast(y_true[..., :1], y_pred.dtype)
        p = tf.clip_by_value(y_pred, epsilon, 1.0 - epsilon)
        per_pixel = -(alpha * y * tf.pow(1.0 - p, gamma) * tf.math.log(p)
                      + (1.0 - alpha) * (1.0 - y) * tf.pow(p, gamma) * tf.math.log(1.0 - p))
        return tf.reduce_mean(per_pixel, axis=[1, 2, 3])

    focal_loss.__name__ = "binary_focal_loss"
    return focal_loss


def weighted_binary_crossentropy(epsilon: float = 1e-7):
    """Cross-entropy weighted pixel by pixel (the U-Net paper's eq. 1) as a Keras loss.

    ``y_true`` carries two channels: the mask (0/1) and the weight of each pixel
    (:func:`pyfiji_dl.data.weights.unet_weight_map`). Per sample::

        mean over pixels of  -w * (y * ln(p) + (1 - y) * ln(1 - p))

    Returns
    -------
    callable
        ``loss(y_true, y_pred) -> (batch,)`` with ``y_true`` ``(batch, Y, X, 2)``.
    """
    def weighted_bce(y_true, y_pred):
        import tensorflow as tf

        y = tf.cast(y_true[..., :1], y_pred.dtype)
        w = tf.cast(y_true[..., 1:2], y_pred.dtype)
        p = tf.clip_by_value(y_pred, epsilon, 1.0 - epsilon)
        per_pixel = -w * (y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))
        return tf.reduce_mean(per_pixel, axis=[1, 2, 3])

    weighted_bce.__name__ = "weighted_binary_crossentropy"
    return weighted_bce


def loss_for(config: UNetConfig):
    """The Keras loss a config asks for."""
    if config.loss == "focal":
        return binary_focal_loss(config.focal_gamma, config.focal_alpha)
    if config.loss == "weighted-bce":
        return weighted_binary_crossentropy()
    raise ValueError(f"unknown U-Net loss {config.loss!r} (known: focal, weighted-bce)")

