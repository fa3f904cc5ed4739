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


# --- Fiji layouts (made-up trees) ---------------------------------------------------

def fiji_tree(root: Path, *, name="Fiji", macos_bundle_beside=False, ij_jars=("ij-1.54p.jar",)) -> Path:
    """A Fiji folder as unpacked on Linux/Windows (launcher inside) or, with
    ``macos_bundle_beside``, current Fiji on macOS: ``Fiji/Fiji.app/Contents`` with
    ``jars/``, ``plugins/`` and ``macros/`` beside the bundle."""
    folder = root / name
    for sub in ("jars", "plugins", "macros"):
        (folder / sub).mkdir(parents=True)
    for jar in ij_jars:
        (folder / "jars" / jar).write_bytes(b"PK")
    if macos_bundle_beside:
        (folder / "Fiji.app" / "Contents" / "MacOS").mkdir(parents=True)
    else:
        (folder / "fiji-linux-x64").write_text("launcher")
        (folder / "fiji-windows-x64.exe").write_text("launcher")
    return folder


def test_current_fiji_folder_and_older_fiji_app_are_both_fiji(clean_env, tmp_path):
    current = fiji_tree(tmp_path / "a", name="Fiji")
    older = fake_fiji(tmp_path / "b")  # Fiji.app with jars/ inside (also old macOS bundles)
    (older / "Contents").mkdir()
    for folder in (current, older):
        found = locate_imagej(folder)
        assert (found.kind, found.path) == ("fiji", folder)
        assert locate.fiji_root(folder) == folder


def test_macos_bundle_with_jars_beside_it(clean_env, tmp_path):
    folder = fiji_tree(tmp_path, macos_bundle_beside=True)
    bundle = folder / "Fiji.app"
    assert locate.fiji_root(bundle) == folder
    assert locate_imagej(bundle).path == folder  # the folder pyimagej needs: it holds jars/
    assert locate.fiji_ij_jar(bundle) == folder / "jars" / "ij-1.54p.jar"


def test_parent_of_a_fiji_folder_is_refused_with_the_folder_to_give(clean_env, tmp_path):
    fiji_tree(tmp_path)
    with pytest.raises(ImageJNotFoundError, match=r"contains Fiji/: give .*Fiji\b"):
        locate_imagej(tmp_path)


def test_usual_places_hold_both_names_and_the_newest_jar_wins(clean_env, tmp_path):
    names = {p.name for p in locate._common_fiji_dirs()}
    assert names == {"Fiji", "Fiji.app"}
    assert Path("/Applications/Fiji") in locate._common_fiji_dirs()
    folder = fiji_tree(tmp_path, macos_bundle_beside=True, ij_jars=("ij-1.54f.jar", "ij-1.54p.jar", "ij-1.9a.jar"))
    clean_env.setattr(locate, "COMMON_FIJI_DIRS", (tmp_path / "Fiji.app", folder / "Fiji.app"))
    found = locate_imagej()
    assert found.kind == "ij-jar" and found.path == folder / "jars" / "ij-1.54p.jar"
    assert f"ImageJ 1.x jar of {folder}" == found.found_by


@pytest.mark.parametrize("layout", ["Fiji", "Fiji.app", "macOS bundle"])
def test_fiji_install_finds_the_folder_of_every_layout(tmp_path, layout):
    from pyfiji_dl.fiji.install import imagej_folder, install

    if layout == "macOS bundle":
        folder = fiji_tree(tmp_path, macos_bundle_beside=True)
        given = folder / "Fiji.app"
    else:
        folder = fiji_tree(tmp_path, name=layout)
        given = folder
    assert imagej_folder(given) == folder.resolve()
    done = install(given, command=tmp_path / "pyfiji-dl")
    assert done["config"] == folder.resolve() / "plugins" / "pyfiji-dl" / "pyfiji-dl.config.txt"
    assert not (folder / "Fiji.app" / "plugins").exists()  # nothing written into the bundle


def test_fiji_install_refuses_the_parent_folder_naming_the_fiji_inside(tmp_path):
    from pyfiji_dl.fiji.install import imagej_folder

    fiji_tree(tmp_path, name="Fiji.app")
    with pytest.raises(FileNotFoundError, match="contains Fiji.app/"):
        imagej_folder(tmp_path)
