"""What a command shows: one message for a user's mistake, a traceback for a bug of ours.

The command line turns only :class:`pyfiji_dl.errors.PyfijiDLError` (and the operating
system's errors about the user's files) into a message; any other exception is a bug and
keeps its traceback, on the terminal and, with ``--for-imagej``, in Fiji's message.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyfiji_dl import cli
from pyfiji_dl.errors import InputError, OptionError, PyfijiDLError, SetupError

# a command that never reaches TensorFlow or ImageJ; its function is swapped for each case
COMMAND = ["labels-to-rois", "labels.tif", "-o", "rois.zip"]


@pytest.fixture
def no_worker(monkeypatch):
    monkeypatch.setenv("PYFIJI_DL_WORKER", "off")


def _command_raising(exc):
    def command(args):
        raise exc
    return command


def test_user_errors_are_value_or_runtime_errors_too():
    # code written against the built-in errors keeps catching them
    assert issubclass(InputError, ValueError) and issubclass(OptionError, ValueError)
    assert issubclass(SetupError, RuntimeError)
    assert all(issubclass(e, PyfijiDLError) for e in (InputError, OptionError, SetupError))


def test_a_user_error_is_one_message_without_traceback(no_worker, monkeypatch, capsys):
    monkeypatch.setattr(cli, "cmd_labels_to_rois",
                        _command_raising(InputError("labels.tif: holds negative values; labels must be >= 0")))
    assert cli.main(COMMAND) == 1
    err = capsys.readouterr().err
    assert "pyfiji-dl labels-to-rois: error: labels.tif: holds negative values" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("bug", [ValueError("an internal shape check failed"), RuntimeError("lost state"),
                                 KeyError("threshold")])
def test_a_bug_keeps_its_traceback(no_worker, monkeypatch, bug):
    monkeypatch.setattr(cli, "cmd_labels_to_rois", _command_raising(bug))
    with pytest.raises(type(bug)):  # not turned into a message: Python prints its traceback
        cli.main(COMMAND)


@pytest.mark.parametrize("raised, shown", [
    ("ValueError('an internal shape check failed')", "Traceback"),
    ("OptionError('--window 0: must be a positive number of pixels')", "error: --window 0"),
])
def test_for_imagej_shows_a_bug_with_its_traceback_and_a_user_error_as_a_message(tmp_path, raised, shown):
    script = (
        "import sys\n"
        "from pyfiji_dl import cli\n"
        "from pyfiji_dl.errors import OptionError\n"
        "def command(args):\n"
        f"    raise {raised}\n"
        "cli.cmd_labels_to_rois = command\n"
        f"sys.exit(cli.main({['--for-imagej'] + COMMAND!r}))\n"
    )
    env = {**os.environ, "PYFIJI_DL_WORKER": "off"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=120)
    assert done.returncode == 1
    assert shown in done.stdout and done.stdout.endswith("PYFIJI-DL STATUS error\n"), done.stdout
    if shown != "Traceback":
        assert "Traceback" not in done.stdout


def test_library_log_records_reach_the_terminal_as_the_commands_print(no_worker, monkeypatch, capsys):
    def command(args):
        logging.getLogger("pyfiji_dl.models.training").info("Early stopping after epoch 3")
        logging.getLogger("pyfiji_dl.families.stardist").warning("2 objects touch the image border")
        logging.getLogger("pyfiji_dl.worker.server").info("job 7: labels-to-rois")  # the worker's own log
        return 0

    monkeypatch.setattr(cli, "cmd_labels_to_rois", command)
    assert cli.main(COMMAND) == 0
    out, err = capsys.readouterr()
    assert out == "Early stopping after epoch 3\n"
    assert err == "pyfiji-dl: warning: 2 objects touch the image border\n"


def test_a_failed_input_is_named_once():
    from pyfiji_dl.errors import naming_file

    assert naming_file("/d/a.tif: not a readable TIFF", Path("/d/a.tif")) == "/d/a.tif: not a readable TIFF"
    assert naming_file("out of memory", Path("/d/a.tif")) == "/d/a.tif: out of memory"
    assert naming_file("disk full", Path("/d/a.tif"), "a.tif") == "a.tif: disk full"  # autolabel's rows
