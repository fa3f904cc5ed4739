"""Finding ImageJ/Fiji: the documented order, and plain hints when nothing is found."""

from pathlib import Path

import pytest

from pyfiji_dl.fiji import locate
from pyfiji_dl.fiji.locate import ImageJNotFoundError, locate_imagej


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("PYFIJI_DL_FIJI", raising=False)
    monkeypatch.delenv("PYFIJI_DL_IJ_JAR", raising=False)
    monkeypatch.setattr(locate, "COMMON_FIJI_DIRS", (tmp_path / "nowhere" / "Fiji.app",))
    return monkeypatch


def fake_fiji(root: Path) -> Path:
    app = root / "Fiji.app"
    (app / "jars").mkdir(parents=True)
    (app / "jars" / "ij-1.54f.jar").write_bytes(b"PK")
    return app


def test_option_beats_environment(clean_env, tmp_path):
    app = fake_fiji(tmp_path)
    clean_env.setenv("PYFIJI_DL_IJ_JAR", str(app / "jars" / "ij-1.54f.jar"))
    found = locate_imagej(app)
    assert (found.kind, found.path, found.found_by) == ("fiji", app, "--fiji option")


def test_fiji_env_then_ij_jar_env(clean_env, tmp_path):
    app = fake_fiji(tmp_path)
    jar = app / "jars" / "ij-1.54f.jar"
    clean_env.setenv("PYFIJI_DL_IJ_JAR", str(jar))
    assert locate_imagej().kind == "ij-jar" and locate_imagej().path == jar
    clean_env.setenv("PYFIJI_DL_FIJI", str(app))
    assert locate_imagej().kind == "fiji"


def test_ij_jar_of_a_fiji_app_in_a_usual_place(clean_env, tmp_path):
    app = fake_fiji(tmp_path)
    clean_env.setattr(locate, "COMMON_FIJI_DIRS", (tmp_path / "missing", app))
    found = locate_imagej()
    assert found.kind == "ij-jar" and found.path.name == "ij-1.54f.jar" and str(app) in found.found_by


def test_not_a_fiji_folder_is_explained(clean_env, tmp_path):
    with pytest.raises(ImageJNotFoundError, match="has no 'jars/' folder"):
        locate_imagej(tmp_path)
    clean_env.setenv("PYFIJI_DL_IJ_JAR", str(tmp_path / "gone.jar"))
    with pytest.raises(ImageJNotFoundError, match="gone.jar does not exist"):
        locate_imagej()


def test_nothing_found_gives_install_hint(clean_env, monkeypatch, tmp_path):
    monkeypatch.setattr(locate, "DEBIAN_IJ_JAR", tmp_path / "no-ij.jar")
    with pytest.raises(ImageJNotFoundError, match="apt-get install libij-java"):
        locate_imagej()


def test_jvm_never_downloads_java(ij):
    import scyjava

    assert scyjava.config.get_fetch_java() == "never"
