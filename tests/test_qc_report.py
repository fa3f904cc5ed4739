"""QC pictures, the HTML report, its warnings and the provenance JSON."""

import hashlib
import json
import subprocess
import sys
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

from pyfiji_dl.io.tables import read_csv
from pyfiji_dl.qc.matching import match_dataset
from pyfiji_dl.qc.plots import (
    OVERLAY_COLOURS,
    overlay_picture,
    plot_loss_curves,
    plot_metric_curves,
    restoration_panel,
)
from pyfiji_dl.qc.provenance import data_fingerprint, file_sha256, software_versions, write_provenance
from pyfiji_dl.qc.report import data_warnings, training_warnings, write_html_report

pytest.importorskip("matplotlib")


def _read_png(path):
    from matplotlib.image import imread

    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return imread(path)


def _history(n_epochs=60, overfit_from=None, val_nan_at=None):
    rows = []
    for epoch in range(n_epochs):
        loss = 0.05 + 1.0 / (epoch + 1)
        val = 0.08 + 1.0 / (epoch + 1)
        if overfit_from is not None and epoch > overfit_from:
            val += 0.004 * (epoch - overfit_from)
        if val_nan_at is not None and epoch >= val_nan_at:
            val = float("nan")
        rows.append({"epoch": epoch, "loss": loss, "val_loss": val, "prob_loss": loss / 2,
                     "val_prob_loss": val / 2, "lr": 3e-4})
    return rows


def _no_partial_files(folder):
    return not [p.name for p in Path(folder).iterdir() if ".part" in p.name]


# ---------------------------------------------------------------------------
# pictures
# ---------------------------------------------------------------------------


def test_loss_curves_png(tmp_path):
    with_terms = plot_loss_curves(_history(), tmp_path / "loss.png")
    assert _read_png(with_terms).shape[:2] == (400, 1500)  # linear, log, loss terms
    # Strings as read back from a CSV work too; no extra terms -> two panels.
    as_strings = [{k: str(v) for k, v in row.items() if "prob" not in k} for row in _history(20)]
    assert _read_png(plot_loss_curves(as_strings, tmp_path / "loss2.png")).shape[:2] == (400, 1000)
    assert _no_partial_files(tmp_path)
    with pytest.raises(ValueError, match="no loss column"):
        plot_loss_curves([{"epoch": 1, "lr": 0.1}], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_metric_curves_png(tmp_path):
    y = np.zeros((64, 64), np.uint16)
    y[5:20, 5:20], y[30:50, 30:45] = 1, 2
    _, pooled = match_dataset([y], [np.roll(y, 3, axis=1)])
    picture = _read_png(plot_metric_curves(pooled, tmp_path / "metrics.png"))
    assert picture.shape[:2] == (480, 640)
    assert picture[..., :3].std() > 0.05  # not a blank canvas


def _overlay_scene():
    """64x64 dark image: A matched (TP), B missed (FN), C extra (FP)."""
    image = np.zeros((64, 64), np.float32)
    image[::7, ::5] = 1.0  # some texture so the percentile stretch has a range
    y_true = np.zeros((64, 64), np.uint16)
    y_pred = np.zeros((64, 64), np.uint16)
    y_true[30:44, 4:18] = 1  # A
    y_pred[30:44, 4:18] = 5
    y_true[46:60, 24:38] = 2  # B, missed
    y_pred[30:44, 40:54] = 9  # C, no true object there
    return image, y_true, y_pred


def test_overlay_colours_tp_fp_fn(tmp_path):
    image, y_true, y_pred = _overlay_scene()
    picture = _read_png(overlay_picture(image, y_true, y_pred, tmp_path / "overlay.png"))
    zoom = 8  # 64 px enlarged to 512
    assert picture.shape[:2] == (512, 512)
    rgb = picture[..., :3]

    def dominant(row, col):
        pixel = rgb[row * zoom + zoom // 2, col * zoom + zoom // 2]
        return "rgb"[int(np.argmax(pixel))], pixel

    for (row, col), colour in (((37, 11), "g"), ((37, 47), "r"), ((53, 31), "b")):
        channel, pixel = dominant(row, col)
        assert channel == colour, (row, col, pixel)
        assert pixel.max() - np.sort(pixel)[1] > 0.2  # clearly coloured, not grey
    # Outline pixels carry the full colour.
    outline = rgb[30 * zoom + 1, 10 * zoom + 1]
    assert np.allclose(outline, np.array(OVERLAY_COLOURS["tp"]) / 255, atol=1 / 255)
    # Background stays grey.
    background = rgb[10 * zoom + 3, 30 * zoom + 3]
    assert np.ptp(background) < 0.02


def test_overlay_threshold_changes_colours(tmp_path):
    image, y_true, _ = _overlay_scene()
    y_pred = np.roll(y_true, 5, axis=1)  # IoU 9/19 ~ 0.47 for both objects
    strict = _read_png(overlay_picture(image, y_true, y_pred, tmp_path / "a.png", thresh=0.5))
    lenient = _read_png(overlay_picture(image, y_true, y_pred, tmp_path / "b.png", thresh=0.3))
    centre = (37 * 8 + 4, 14 * 8 + 4)  # inside both A and its shifted prediction
    assert np.argmax(lenient[centre][:3]) == 1
    assert np.argmax(strict[centre][:3]) != 1


def test_restoration_panel_png(tmp_path):
    rng = np.random.default_rng(0)
    gt = rng.random((3, 40, 48))
    picture = _read_png(restoration_panel(gt + rng.normal(0, 0.3, gt.shape), gt * 2, gt, tmp_path / "panel.png"))
    assert picture.shape[:2] == (1200, 1200)
    assert _read_png(restoration_panel(None, gt[0], gt[0], tmp_path / "panel2.png")).shape[:2] == (1200, 1200)


# ---------------------------------------------------------------------------
# HTML report
# ---------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets, self.ids, self.tags = [], set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href"):
                self.targets.append(value)
            if name == "id":
                self.ids.add(value)


def _build_report(out_dir, *, missing_picture=True):
    y = np.zeros((64, 64), np.uint16)
    y[5:20, 5:20], y[30:50, 30:45] = 1, 2
    per_image, pooled = match_dataset([y, y], [np.roll(y, 2, axis=0), y], names=["a b.tif", "c.tif"])
    plot_loss_curves(_history(), out_dir / "pictures" / "loss curves #1.png")
    plot_metric_curves(pooled, out_dir / "pictures" / "metrics.png")
    (out_dir / "provenance.json").write_text("{}")
    pictures = ["pictures/loss curves #1.png", ("Matching", out_dir / "pictures" / "metrics.png")]
    if missing_picture:
        pictures.append("pictures/never-written.png")
    sections = [
        {"heading": "Training", "text": "Loss <per> epoch.\n\nSecond paragraph.", "pictures": pictures,
         "tables": {"history": _history(5)}},
        {"heading": "Object matching", "tables": {"matching_pooled": pooled, "matching per image.csv": per_image}},
        {"heading": "Provenance", "key_values": {"prob_thresh": 0.4795123456, "n_rays": 32, "grid": (2, 2)},
         "links": ["provenance.json", ("missing", "nowhere.json")]},
    ]
    report = write_html_report(out_dir, title="QC <StarDist>", sections=sections,
                               warnings=training_warnings(_history(8)))
    return report, pooled, per_image


def test_report_links_only_existing_files(tmp_path):
    report, pooled, per_image = _build_report(tmp_path)
    assert report == tmp_path / "index.html"
    document = report.read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(document)
    assert len(parser.targets) >= 8
    for target in parser.targets:
        parts = urlsplit(target)
        assert not parts.scheme and not parts.netloc, target  # nothing from the network
        if target.startswith("#"):
            assert target[1:] in parser.ids
            continue
        assert not target.startswith("/") and " " not in target, target  # relative, URL-encoded
        assert (tmp_path / unquote(parts.path)).is_file(), target
    assert "script" not in parser.tags and "link" not in parser.tags
    assert "http://" not in document and "https://" not in document
    linked = {unquote(t) for t in parser.targets}
    assert {"pictures/loss curves #1.png", "pictures/metrics.png", "provenance.json",
            "matching_pooled.csv", "matching_per_image.csv", "history.csv"} <= linked
    assert not any("never-written" in t or "nowhere" in t for t in linked)
    assert _no_partial_files(tmp_path)


def test_report_tables_csv_and_warnings(tmp_path):
    report, pooled, per_image = _build_report(tmp_path)
    document = report.read_text(encoding="utf-8")
    back = read_csv(tmp_path / "matching_pooled.csv")
    assert len(back) == len(pooled)
    assert [float(r["f1"]) for r in back] == pytest.approx([r["f1"] for r in pooled], rel=1e-9)
    # Table names become safe file names.
    assert len(read_csv(tmp_path / "matching_per_image.csv")) == len(per_image)
    # Warnings: the given ones and the missing files, in the box at the top.
    box = document[document.index('class="warnings"'):document.index("<nav>")]
    assert "Only 8 epochs" in box
    assert "never-written.png" in box and "nowhere.json" in box
    # Text is escaped, paragraphs kept, key/values at full precision.
    assert "<p>Loss &lt;per&gt; epoch.</p>\n<p>Second paragraph.</p>" in document
    assert "<title>QC &lt;StarDist&gt;</title>" in document
    assert "0.4795123456" in document


def test_report_without_warnings_says_so(tmp_path):
    report = write_html_report(tmp_path, title="t", sections=[{"heading": "Only text", "text": "x"}])
    document = report.read_text(encoding="utf-8")
    assert "No warnings." in document and 'class="warnings"' not in document
    with pytest.raises(ValueError, match="unknown keys"):
        write_html_report(tmp_path, title="t", sections=[{"heading": "h", "picture": ["a.png"]}])


def test_report_refuses_pictures_outside_its_folder(tmp_path):
    outside = tmp_path / "elsewhere.png"
    plot_metric_curves([{"thresh": 0.5, "f1": 1.0}], outside)
    report = write_html_report(tmp_path / "report", title="t",
                               sections=[{"heading": "h", "pictures": [outside, "../elsewhere.png"]}])
    parser = _Links()
    parser.feed(report.read_text(encoding="utf-8"))
    assert not [t for t in parser.targets if not t.startswith("#")]


# ---------------------------------------------------------------------------
# warnings
# ---------------------------------------------------------------------------


def test_training_warnings():
    assert training_warnings(_history(100)) == []
    overfit = training_warnings(_history(100, overfit_from=50))
    assert len(overfit) == 1 and "over-fitting" in overfit[0] and "training loss kept falling" in overfit[0]
    few = training_warnings(_history(4))
    assert any("Only 4 epochs" in w for w in few)
    assert any("not a finite number from epoch 30" in w for w in training_warnings(_history(60, val_nan_at=30)))
    no_val = training_warnings([{"loss": 1.0 / (e + 1)} for e in range(40)])
    assert any("No validation loss" in w for w in no_val)
    still_falling = [{"loss": 1.0 - 0.009 * e, "val_loss": 1.1 - 0.009 * e} for e in range(50)]
    assert any("still falling" in w for w in training_warnings(still_falling))
    assert training_warnings([]) == ["No training history was recorded: the loss curves cannot be checked."]


def test_data_warnings():
    shapes = [(64, 64)] * 6
    assert data_warnings([20] * 6, shapes, shapes) == []
    assert any("Only 2 evaluation images" in w for w in data_warnings(200, shapes[:2], shapes[:2]))
    assert any("Only 12 ground-truth objects" in w for w in data_warnings([2] * 6, shapes, shapes))
    mismatch = data_warnings(100, shapes, shapes[:5] + [(64, 65)], names=list("abcdef"))
    assert any("Image f" in w and "(64, 65)" in w for w in mismatch)
    assert any("6 ground-truth images but 5 predictions" in w for w in data_warnings(100, shapes, shapes[:5]))
    assert any("1 image(s) without ground-truth objects (c)" in w
               for w in data_warnings([30, 30, 0, 30, 30, 30], shapes, shapes, names=list("abcdef")))


# ---------------------------------------------------------------------------
# provenance
# ---------------------------------------------------------------------------


def test_provenance_hashes_match_hashlib(tmp_path):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "images" / "b.tif").write_bytes(b"\x00\x01" * 70000)
    (data / "images" / "a.tif").write_bytes(b"first image")
    (data / "images" / ".DS_Store").write_bytes(b"junk")
    single = tmp_path / "masks.tif"
    single.write_bytes(bytes(range(256)) * 5000)  # > 1 MiB: several read chunks

    path = write_provenance(
        tmp_path / "model" / "provenance.json",
        config={"n_rays": np.int64(32), "grid": (2, 2), "train_dir": data, "lr": np.float32(3e-4),
                "patch": np.array([256, 256])},
        thresholds={"prob": 0.479, "nms": 0.3},
        data_files=[data, single],
        command_line=["pyfiji-dl", "train", "stardist"],
        extra={"seed": 42},
    )
    record = json.loads(path.read_text(encoding="utf-8"))
    files = {Path(entry["path"]).name: entry for entry in record["data"]}
    assert list(files) == ["a.tif", "b.tif", "masks.tif"]  # folder sorted, hidden file skipped
    for name, source in (("a.tif", data / "images" / "a.tif"), ("b.tif", data / "images" / "b.tif"),
                         ("masks.tif", single)):
        content = source.read_bytes()
        assert files[name]["sha256"] == hashlib.sha256(content).hexdigest()
        assert files[name]["bytes"] == len(content)
    assert file_sha256(single) == hashlib.sha256(single.read_bytes()).hexdigest()
    assert record["config"] == {"n_rays": 32, "grid": [2, 2], "train_dir": data.as_posix(),
                                "lr": pytest.approx(3e-4), "patch": [256, 256]}
    assert record["thresholds"] == {"prob": 0.479, "nms": 0.3}
    assert record["command_line"] == ["pyfiji-dl", "train", "stardist"] and record["extra"] == {"seed": 42}
    assert record["software"]["numpy"] == np.__version__
    assert record["software"]["python"] == ".".join(map(str, sys.version_info[:3]))
    created = datetime.strptime(record["created_utc"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs((datetime.utcnow() - created).total_seconds()) < 600
    assert _no_partial_files(path.parent)
    with pytest.raises(FileNotFoundError):
        data_fingerprint([tmp_path / "nope.tif"])


def test_software_versions_import_nothing_heavy():
    code = (
        "import sys; from pyfiji_dl.qc import provenance, report, plots, matching, restoration; "
        "v = provenance.software_versions(); "
        "print(sorted(m for m in ('tensorflow', 'stardist', 'csbdeep', 'matplotlib') if m in sys.modules)); "
        "print(sorted(k for k in ('python', 'platform', 'pyfiji_dl', 'numpy', 'tensorflow', 'csbdeep', "
        "'stardist', 'n2v', 'tifffile', 'roifile', 'scyjava') if k not in v))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert result.stdout.split("\n")[:2] == ["[]", "[]"]
    assert software_versions(["surely-not-installed-pkg"])["surely-not-installed-pkg"] is None
