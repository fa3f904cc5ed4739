"""pyfiji_dl: deep learning for Fiji/ImageJ users.

The core works on NumPy arrays; files, the JVM and the GPU stay at the edges.
"""

__version__ = "0.1.0"
