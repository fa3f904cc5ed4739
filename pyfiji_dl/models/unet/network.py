"""The U-Net itself (Ronneberger et al., MICCAI 2015) as a plain Keras functional model."""

from __future__ import annotations


def build_unet(n_channels: int = 1, *, filters: int = 16, depth: int = 4, kernel_size: int = 3,
               dropout: float = 0.05, batch_norm: bool = True, name: str = "unet"):
    """The U-Net as a plain Keras functional model.

    Each level: two ``kernel_size`` convolutions ('same' padding, He-normal
    initialisation), each followed by batch normalisation, ReLU and dropout; 2x2 max
    pooling down, 2x2 transposed convolution (the paper's "up-conv") up, skip
    connections by concatenation; a 1x1 convolution with a sigmoid gives the
    foreground probability.

    Parameters
    ----------
    n_channels : int
        Input channels.
    filters : int
        Filters of the first level; doubled at every level down.
    depth : int
        Number of poolings; input height and width must be multiples of ``2**depth``.
    kernel_size : int
    dropout : float
    batch_norm : bool
    name : str

    Returns
    -------
    tf.keras.Model
        One input ``(None, None, None, n_channels)``, one output ``(None, None, None, 1)``
        in [0, 1].
    """
    import tensorflow as tf

    layers = tf.keras.layers

    def conv_block(x, n_filters: int, prefix: str):
        for i in (1, 2):
            x = layers.Conv2D(n_filters, kernel_size, padding="same", use_bias=not batch_norm,
                              kernel_initializer="he_normal", name=f"{prefix}_conv{i}")(x)
            if batch_norm:
                x = layers.BatchNormalization(name=f"{prefix}_bn{i}")(x)
            x = layers.Activation("relu", name=f"{prefix}_relu{i}")(x)
            if dropout:
                x = layers.Dropout(dropout, name=f"{prefix}_dropout{i}")(x)
        return x

    inputs = layers.Input(shape=(None, None, n_channels), name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = conv_block(x, filters * 2**level, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    x = conv_block(x, filters * 2**depth, "bottom")
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(filters * 2**level, 2, strides=2, kernel_initializer="he_normal",
                                   name=f"up{level}_upconv")(x)
        x = layers.Concatenate(name=f"up{level}_concat")([skips[level], x])
        x = conv_block(x, filters * 2**level, f"up{level}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="probability")(x)
    return tf.keras.Model(inputs, outputs, name=name)


def receptive_radius(depth: int, kernel_size: int = 3) -> int:
    """Pixels of context per side that reach an output pixel (an upper bound)."""
    from ..tiling import unet_receptive_radius

    return unet_receptive_radius(n_depth=depth, kernel_size=kernel_size, conv_after_unet=False)


def tile_halo(depth: int, kernel_size: int = 3) -> int:
    """Context per side that makes tiled prediction equal whole-image prediction, on the pooling grid."""
    from .config import round_up

    return round_up(receptive_radius(depth, kernel_size), 2**depth)
