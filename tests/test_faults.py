"""Nothing lost under faults: the fault suite.

Each case checks what a user sees and what is left on disk: a clear message naming the
user's file (never our temporary ``.NAME.XXXX.part.tif``), the exit code, no traceback,
no half-written output, inputs unchanged, and that the next command can continue.
Models are tiny (one U-Net level, 8 filters) so the suite stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pyfiji_dl.cli import main
from pyfiji_dl.io.tiff import write_imagej_tiff, write_label_image

pytestmark = pytest.mark.slow

TINY_CARE = ["--patch", "32", "--patches-per-image", "8", "--batch", "4", "--depth", "1", "--filters", "8",
             "--quiet"]


# --- helpers ---------------------------------------------------------------------------

def run_cli(*args) -> int:
    return main([str(a) for a in args])


def cli_process(*args, **kwargs) -> subprocess.Popen:
    """``pyfiji-dl ARGS`` in its own process (for signals), this worktree's package first."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-m", "pyfiji_dl.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def digests(folder: Path) -> dict:
    return {p.relative_to(folder): digest(p) for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in Path(folder).rglob("*") if ".part" in p.name]


def assert_clean_error(err: str, *names) -> None:
    assert "Traceback" not in err, err
    assert ".part" not in err, err  # our temporary files are never named
    for name in names:
        assert str(name) in err, (name, err)


def wait_for(condition, seconds: float, process: subprocess.Popen | None = None, poll: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the command ended (rc {process.returncode}) before the fault:\n{out}\n{err}")
        time.sleep(poll)
    pytest.fail("timed out waiting for the command to reach the fault")


def ctrl_c_now(process: subprocess.Popen) -> None:
    """Ctrl-C at the point the command has reached, however fast it goes on.

    Frozen first (SIGSTOP), the command cannot run on while this test gets round to the
    interrupt: a fast machine once finished a whole predict run between a test seeing its
    first output and the SIGINT landing. The SIGINT waits while the command is stopped and
    is handled as soon as it continues.
    """
    process.send_signal(signal.SIGSTOP)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGCONT)


class SmallDisk:
    """A small tmpfs (root only): a disk that fills up, or a read-only one."""

    def __init__(self, path: Path, size_kb: int, read_only: bool = False):
        self.path = path
        self.size_kb = size_kb
        path.mkdir(parents=True, exist_ok=True)
        options = f"size={size_kb}k" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here to simulate the disk ({done.stderr.strip()}); "
                        "run the suite as root on Linux for this case")

    def fill(self) -> None:
        """Take every free byte."""
        fd = os.open(self.path / "filler.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        written, bound = 0, 4 * 1024 * self.size_kb  # a sandbox may mount a tmpfs without its size limit
        try:
            for block in (65536, 4096, 1):
                try:
                    while written < bound:
                        written += os.write(fd, b"\0" * block)
                except OSError:
                    pass
        finally:
            os.close(fd)
        if written >= bound:
            self.free()
            self.unmount()
            pytest.skip(f"this machine's tmpfs took {written} bytes with size={self.size_kb}k: "
                        "its size limit is not enforced, so a full disk cannot be simulated here")

    def free(self) -> None:
        (self.path / "filler.bin").unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    disks = []

    def make(size_kb: int = 512, read_only: bool = False) -> SmallDisk:
        disk = SmallDisk(tmp_path / f"disk{len(disks)}", size_kb, read_only)
        disks.append(disk)
        return disk

    yield make
    for disk in disks:
        disk.unmount()


# --- data and a tiny model ---------------------------------------------------------------

def nuclei_labels(shape=(64, 64), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint16)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for label in range(1, 7):
        cy, cx = rng.integers(8, shape[0] - 8), rng.integers(8, shape[1] - 8)
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 < 25] = label
    return labels


def noisy_image(seed: int, shape=(64, 64)) -> tuple[np.ndarray, np.ndarray]:
    clean = (nuclei_labels(shape, seed) > 0).astype(np.float32) * 200 + 20
    rng = np.random.default_rng(seed)
    return (clean + rng.normal(0, 30, shape)).astype(np.float32), clean


@pytest.fixture(scope="module")
def care_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("care_data")
    for i in range(3):
        low, gt = noisy_image(i)
        write_imagej_tiff(root / "low" / f"f{i}.tif", low, "YX")
        write_imagej_tiff(root / "GT" / f"f{i}.tif", gt, "YX")
    return root


@pytest.fixture(scope="module")
def care_model(tmp_path_factory, care_data):
    model = tmp_path_factory.mktemp("models") / "care"
    assert run_cli("train", "care", "--data", care_data, "--model", model, "--epochs", "1", "--steps", "2",
                   *TINY_CARE) == 0
    return model


@pytest.fixture
def model_copy(care_model, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(care_model, copy)
    return copy


@pytest.fixture
def annotated(tmp_path):
    """cells.tif with its ROI set RoiSet.zip (made by labels-to-rois)."""
    image = tmp_path / "cells.tif"
    write_imagej_tiff(image, noisy_image(3)[0], "YX")
    labels = tmp_path / "labels_src.tif"
    write_label_image(labels, nuclei_labels(seed=3), "YX")
    assert run_cli("labels-to-rois", labels, "-o", tmp_path / "RoiSet.zip") == 0
    return image, tmp_path / "RoiSet.zip"


# --- 1. an output never writes over an input ---------------------------------------------

@pytest.mark.parametrize("how", ["same", "hard link", "symlink"])
def test_output_that_is_the_input_is_refused_before_any_work(annotated, tmp_path, capsys, how):
    image, rois = annotated
    before = digest(image)
    output = {"same": image, "hard link": tmp_path / "hard.tif", "symlink": tmp_path / "sym.tif"}[how]
    if how == "hard link":
        os.link(image, output)
    elif how == "symlink":
        output.symlink_to(image)
    assert run_cli("rois-to-labels", rois, "--image", image, "-o", output) == 1
    err = capsys.readouterr().err
    assert_clean_error(err, output, image)
    assert digest(image) == before and no_temporary_files(tmp_path)
    # the next command, with an output of its own, works
    assert run_cli("rois-to-labels", rois, "--image", image, "-o", tmp_path / "labels.tif") == 0
    assert digest(image) == before


def test_output_folder_holding_the_inputs_is_refused(tmp_path, capsys):
    data = tmp_path / "data"
    for name in ("a", "b"):
        write_label_image(data / "masks" / f"{name}.tif", nuclei_labels(seed=ord(name)), "YX")
    before = digests(data)
    # the folder forms write NAME.tif / NAME.zip into -o: the inputs' own folder is refused
    assert run_cli("labels-to-rois", data / "masks", "-o", data / "masks") == 1
    assert run_cli("bootstrap-rois", data / "masks", "-o", data) == 1
    err = capsys.readouterr().err
    assert_clean_error(err, data / "masks", "holds the input")
    assert digests(data) == before


def test_predict_into_the_folder_of_its_inputs_is_refused_before_loading(care_model, tmp_path, capsys):
    data = tmp_path / "data"
    for i in range(2):
        write_imagej_tiff(data / "masks" / f"m{i}.tif", noisy_image(i)[0], "YX")
    before = digests(data)
    assert run_cli("predict", care_model, data / "masks", "-o", data, "--quiet") == 1
    err = capsys.readouterr().err
    assert_clean_error(err, data, data / "masks")
    assert digests(data) == before and not (data / "restored").exists()


def test_existing_file_and_folder_in_the_way_of_outputs(annotated, care_model, tmp_path, capsys):
    image, rois = annotated
    folder_in_the_way = tmp_path / "labels.tif"
    folder_in_the_way.mkdir()
    assert run_cli("rois-to-labels", rois, "--image", image, "-o", folder_in_the_way) == 1
    file_in_the_way = tmp_path / "out.tif"
    file_in_the_way.write_bytes(b"not a folder")
    assert run_cli("predict", care_model, image, "-o", file_in_the_way, "--quiet") == 1
    err = capsys.readouterr().err
    assert_clean_error(err, folder_in_the_way, file_in_the_way)
    assert "is a folder" in err and "is a file" in err
    assert file_in_the_way.read_bytes() == b"not a folder" and no_temporary_files(tmp_path)


# --- 2. models that are not complete are not used -----------------------------------------

def test_weightless_model_is_refused_by_every_command_that_opens_it(model_copy, care_data, tmp_path, capsys):
    for weights in model_copy.glob("weights_*.h5"):
        weights.unlink()
    image = care_data / "low" / "f0.tif"
    commands = [
        ("predict", model_copy, image, "-o", tmp_path / "pred", "--quiet"),
        ("evaluate", model_copy, "--data", care_data, "-o", tmp_path / "qc"),
        ("export", model_copy, "--format", "fiji-csbdeep", "-o", tmp_path / "m.zip"),
        ("train", "care", "--data", care_data, "--model", tmp_path / "tuned", "--from", model_copy, "--epochs", "1",
         "--steps", "1", *TINY_CARE),
    ]
    for command in commands:
        assert run_cli(*command) == 1, command
        err = capsys.readouterr().err
        assert_clean_error(err, model_copy, "Missing: trained weights")
        assert "train care" in err  # how to finish it
    for output in ("pred", "qc", "m.zip", "tuned"):
        assert not (tmp_path / output).exists(), output


def test_unfinished_model_without_thresholds_is_refused(model_copy, tmp_path, capsys):
    # a StarDist folder whose threshold optimisation never ran (the check reads files only)
    card = json.loads((model_copy / "pyfiji_dl.json").read_text())
    (model_copy / "pyfiji_dl.json").write_text(json.dumps(card | {"family": "stardist"}))
    image = tmp_path / "x.tif"
    write_imagej_tiff(image, noisy_image(0)[0], "YX")
    assert run_cli("predict", model_copy, image, "-o", tmp_path / "pred", "--quiet") == 1
    err = capsys.readouterr().err
    assert_clean_error(err, model_copy, "thresholds.json")


@pytest.mark.parametrize("damage", ["weights", "config"])
def test_damaged_model_file_is_named_once_not_per_image(model_copy, care_data, tmp_path, capsys, damage):
    if damage == "weights":
        damaged = model_copy / "weights_best.h5"
        damaged.write_bytes(damaged.read_bytes()[:300])
    else:
        damaged = model_copy / "config.json"
        damaged.write_text('{"axes": "YXC", ')
    assert run_cli("predict", model_copy, care_data / "low", "-o", tmp_path / "pred", "--quiet") == 1
    err = capsys.readouterr().err
    assert_clean_error(err, damaged)
    assert err.count(str(damaged)) == 1 and "f0.tif" not in err  # the model is blamed, not the images
    assert not (tmp_path / "pred" / "restored").exists()


@pytest.mark.parametrize("option", [("--epochs", "0"), ("--steps", "-1"), ("--batch", "0"), ("--lr", "0"),
                                    ("--patches-per-image", "0")])
def test_out_of_range_training_options_are_refused_up_front(care_data, tmp_path, capsys, option):
    model = tmp_path / "m"
    with pytest.raises(SystemExit) as stop:
        run_cli("train", "care", "--data", care_data, "--model", model, *option)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert_clean_error(err, option[0], "out of range")
    assert not model.exists()


def test_channel_that_does_not_exist_is_named_with_the_channels_counted_from_1(care_data, tmp_path, capsys):
    assert run_cli("train", "care", "--data", care_data, "--model", tmp_path / "m", "--channel", "5") == 1
    err = capsys.readouterr().err
    assert_clean_error(err, "f0.tif", "channel 5", "1 to 1")
    assert "IndexError" not in err and not (tmp_path / "m").exists()


def test_out_of_range_prediction_options_are_refused(care_model, tmp_path, capsys):
    for option in (("--workers", "0"), ("--threshold", "1.5"), ("--min-area", "-3")):
        with pytest.raises(SystemExit) as stop:
            run_cli("predict", care_model, tmp_path, "-o", tmp_path / "out", *option)
        assert stop.value.code == 2
        assert_clean_error(capsys.readouterr().err, option[0], "out of range")


def test_for_imagej_refusals_still_end_with_the_status_line(care_data, tmp_path):
    process = cli_process("--for-imagej", "train", "care", "--data", care_data, "--model", tmp_path / "m",
                          "--epochs", "0")
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "--epochs: 0 is out of range" in out and "Traceback" not in out
    assert out.rstrip().splitlines()[-1] == "PYFIJI-DL STATUS error"


# --- 3. training folders: always resumable or restartable; disk full -----------------------

def test_kill_9_in_the_first_epoch_leaves_a_restartable_folder(care_data, tmp_path, capsys):
    model = tmp_path / "m"
    base = ["train", "care", "--data", care_data, "--model", model, "--epochs", "1"]
    process = cli_process(*base, "--steps", "100000", *TINY_CARE)
    wait_for(lambda: (model / "training_state.json").exists(), 120, process)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    # nothing to resume, and a fresh start says how to restart (not a dead end)
    assert run_cli(*base, "--steps", "1", "--resume", "--quiet") == 1
    assert run_cli(*base, "--steps", "1", *TINY_CARE) == 1
    err = capsys.readouterr().err
    assert_clean_error(err, model)
    assert err.count("--restart") == 2
    assert run_cli(*base, "--steps", "1", "--restart", *TINY_CARE) == 0
    assert (model / "weights_best.h5").exists() and (model / "provenance.json").exists()


def test_ctrl_c_in_training_keeps_the_checkpoint_and_says_how_to_resume(care_data, tmp_path):
    model = tmp_path / "m"
    process = cli_process("train", "care", "--data", care_data, "--model", model, "--epochs", "3",
                          "--steps", "100000", *TINY_CARE)
    wait_for(lambda: (model / "training_state.json").exists(), 120, process)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err  # once in a CI run it was 1: the message says which error path
    assert_clean_error(err, "interrupted", model)
    assert "KeyboardInterrupt" not in err
    # stopped in its first epoch: nothing was kept, and the same command starts again
    assert not model.exists() or not any(model.iterdir())
    assert no_temporary_files(tmp_path)


def test_ctrl_c_after_an_epoch_resumes(care_data, tmp_path):
    model = tmp_path / "m"
    process = cli_process("train", "care", "--data", care_data, "--model", model, "--epochs", "2",
                          "--steps", "40", *TINY_CARE)
    wait_for(lambda: (model / "checkpoint" / "weights_last.h5").exists(), 180, process, poll=0.005)
    ctrl_c_now(process)
    out, err = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the second epoch finished before the signal arrived (machine faster than expected)")
    assert process.returncode == 130
    assert_clean_error(err, "interrupted", "epoch 1 of 2", "--resume")
    assert run_cli("train", "care", "--data", care_data, "--model", model, "--resume", "--quiet") == 0
    history = (model / "training_history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["1", "2"]


def test_refused_start_leaves_no_folder(care_data, tmp_path):
    """A start refused after the network was built (here: by a check in the first epoch) is undone."""
    import tensorflow as tf

    from pyfiji_dl import families
    from pyfiji_dl.errors import PyfijiDLError
    from pyfiji_dl.models.training import check_new_model_dir, folder_status

    class Refuse(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise PyfijiDLError("refused during the first epoch")

    model = tmp_path / "m"
    care = families.get("care")
    options = care.options_class(epochs=1, steps=2, patch=(32, 32), batch=4, depth=1, filters=8,
                                 patches_per_image=8)
    with pytest.raises(PyfijiDLError):
        care.train(care_data, model, options, progress=False, extra_callbacks=[Refuse()])
    assert folder_status(model) == "new"
    check_new_model_dir(model)  # the same command can start again


def test_disk_full_during_training_keeps_the_last_checkpoint(care_data, tmp_path, small_disk):
    disk = small_disk(4096)
    model = disk.path / "m"
    process = cli_process("train", "care", "--data", care_data, "--model", model, "--epochs", "3",
                          "--steps", "40", *TINY_CARE)
    checkpoint = model / "checkpoint" / "weights_last.h5"
    wait_for(checkpoint.exists, 180, process)
    kept = digest(checkpoint)
    disk.fill()
    out, err = process.communicate(timeout=180)
    assert process.returncode == 1
    assert_clean_error(err, "disk full while writing", model)
    assert "Segmentation" not in err and digest(checkpoint) == kept and no_temporary_files(disk.path)
    import h5py

    with h5py.File(checkpoint, "r") as weights:  # the last good checkpoint still loads
        assert len(weights.keys()) > 0
    disk.free()
    assert run_cli("train", "care", "--data", care_data, "--model", model, "--resume", "--quiet") == 0


def test_disk_full_and_read_only_outputs_name_the_users_file(annotated, small_disk, capsys):
    image, rois = annotated
    before = digest(image)
    full = small_disk(64)
    full.fill()
    assert run_cli("rois-to-labels", rois, "--image", image, "-o", full.path / "labels.tif") == 1
    read_only = small_disk(64, read_only=True)
    assert run_cli("rois-to-labels", rois, "--image", image, "-o", read_only.path / "labels.tif") == 1
    err = capsys.readouterr().err
    assert_clean_error(err, f"disk full while writing {full.path / 'labels.tif'}",
                       f"cannot write {read_only.path / 'labels.tif'}", "read-only")
    assert "requested and" not in err and "Errno" not in err
    assert not (full.path / "labels.tif").exists() and no_temporary_files(full.path)
    assert digest(image) == before
    full.free()
    assert run_cli("rois-to-labels", rois, "--image", image, "-o", full.path / "labels.tif") == 0


# --- 4. Ctrl-C during prediction -----------------------------------------------------------

def test_ctrl_c_during_predict_keeps_finished_images_and_the_rerun_continues(care_model, tmp_path):
    inputs = tmp_path / "in"
    for i in range(60):
        write_imagej_tiff(inputs / f"img{i:02d}.tif", noisy_image(i % 5, (384, 384))[0], "YX")
    out = tmp_path / "out"
    process = cli_process("--for-imagej", "predict", care_model, inputs, "-o", out)
    wait_for(lambda: len(list((out / "restored").glob("img*.tif"))) >= 1 if (out / "restored").exists() else False,
             180, process, poll=0.005)
    ctrl_c_now(process)
    stdout, _ = process.communicate(timeout=120)
    assert process.returncode == 130
    assert_clean_error(stdout, "interrupted", "image(s) had finished", out)
    assert stdout.rstrip().splitlines()[-1] == "PYFIJI-DL STATUS error"  # the macros always get their line
    assert no_temporary_files(out)
    finished = len(list((out / "restored").glob("*.tif")))
    assert 0 < finished < 60
    rerun = cli_process("predict", care_model, inputs, "-o", out, "--quiet")
    rerun_out, rerun_err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, rerun_err
    assert f"skipped {finished} finished input(s)" in rerun_out
    assert len(list((out / "restored").glob("*.tif"))) == 60


# --- 5 and 6. messages that blame the right thing; no silent switches ----------------------

def test_empty_masks_folder_is_called_empty(tmp_path, capsys):
    data = tmp_path / "data"
    write_imagej_tiff(data / "images" / "a.tif", noisy_image(0)[0], "YX")
    (data / "masks").mkdir()
    assert run_cli("train", "stardist", "--data", data, "--model", tmp_path / "m", "--quiet") == 1
    err = capsys.readouterr().err
    assert_clean_error(err, data / "masks", "empty")
    assert "no 'masks'" not in err and not (tmp_path / "m").exists()


def test_one_float_prediction_among_label_maps_is_reported_not_switched(tmp_path, capsys):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for name in ("a", "b", "c"):
        labels = nuclei_labels(seed=ord(name))
        write_label_image(gt / f"{name}.tif", labels, "YX")
        write_label_image(pred / f"{name}.tif", np.roll(labels, 1, axis=0), "YX")
    write_imagej_tiff(pred / "b.tif", nuclei_labels(seed=ord("b")).astype(np.float32) * 0.5, "YX")
    assert run_cli("evaluate", "--pred", pred, "--gt", gt, "-o", tmp_path / "qc") == 1
    err = capsys.readouterr().err
    assert_clean_error(err, "b.tif", "label maps")
    assert "a.tif" not in err and not (tmp_path / "qc").exists()


def test_damaged_earlier_output_is_predicted_again(care_model, care_data, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli("predict", care_model, care_data / "low", "-o", out, "--quiet") == 0
    damaged = out / "restored" / "f1.tif"
    damaged.write_bytes(damaged.read_bytes()[:200])
    capsys.readouterr()
    assert run_cli("predict", care_model, care_data / "low", "-o", out, "--quiet") == 0
    said = capsys.readouterr().out
    assert "f1.tif: done" in said and "skipped 2 finished" in said
    from pyfiji_dl.io.tiff import read_image

    assert read_image(damaged)[0].shape == (64, 64)


def test_an_interrupt_between_opening_and_writing_leaves_no_temporary_file(tmp_path):
    """A Ctrl-C between a ``with`` statement's ``__enter__`` and its block skips the writer's cleanup."""
    import threading

    from pyfiji_dl.io.atomic import atomic_path, remove_abandoned_temporaries

    target = tmp_path / "out" / "labels.tif"
    abandoned = atomic_path(target)
    temporary = abandoned.__enter__()  # ... and the interrupt lands before the block: no __exit__
    assert temporary.exists() and ".part" in temporary.name and temporary.suffix == ".tif"
    others = {}

    def another_job():  # the warm worker runs jobs in threads: their files are theirs
        others["cm"] = atomic_path(tmp_path / "out" / "other.tif")
        others["temporary"] = others["cm"].__enter__()

    thread = threading.Thread(target=another_job)
    thread.start()
    thread.join()
    with atomic_path(tmp_path / "out" / "kept.tif") as written:
        written.write_bytes(b"whole")
    assert remove_abandoned_temporaries() == [temporary]
    assert not temporary.exists() and not target.exists()
    assert others["temporary"].exists()
    assert (tmp_path / "out" / "kept.tif").read_bytes() == b"whole"
    assert oct((tmp_path / "out" / "kept.tif").stat().st_mode & 0o777) != oct(0o600)  # the usual permissions
    abandoned.gen.close()  # its own cleanup, when the generator is finalised at last, finds nothing to do
    assert not target.exists()
    others["cm"].__exit__(None, None, None)
    assert not others["temporary"].exists() and (tmp_path / "out" / "other.tif").exists()
    assert remove_abandoned_temporaries() == []
