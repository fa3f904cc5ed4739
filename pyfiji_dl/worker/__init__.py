"""The warm worker: one long-lived process per user that runs pyfiji-dl commands.

Importing TensorFlow and StarDist takes most of a short command's time (about 6 s of
7-8 s for one 512 x 512 image on a 2-core machine). The worker imports them once, keeps
recently used models loaded, and runs the commands it is sent; the ``pyfiji-dl`` client
only parses the command line, sends it over a private Unix socket and prints what comes
back, so it imports neither TensorFlow nor NumPy.

Modules: :mod:`.paths` (where the socket, lock, log and jobs live, and their
permissions), :mod:`.protocol` (the JSON-lines messages), :mod:`.client` (what the
``pyfiji-dl`` command does), :mod:`.server` (the worker process), :mod:`.jobs` (one
command run: output, progress, cancellation) and :mod:`.models` (the model cache).
The client modules use the standard library only.

The design follows the worker pattern of Appose (apposed/appose: a long-lived child
process, JSON messages, tasks with progress updates and cancellation), kept to the
standard library and to our own command line: a request names a pyfiji-dl command,
never code.
"""
