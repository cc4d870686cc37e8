"""CPU tests (CI, no GPU needed): the wheel imports, reads metadata without a GPU, and raises
clear Python exceptions, including nvdx's own message when no NVIDIA driver is present."""

import pathlib

import pytest

import nvdx
from conftest import FIXTURES, have_driver


def test_module_surface():
    for name in ["VideoReader", "Frame", "Tensor", "Plane", "NvdxError", "UnsupportedError",
                 "rgb_to_nv12", "version"]:
        assert hasattr(nvdx, name), name
    assert issubclass(nvdx.UnsupportedError, nvdx.NvdxError)
    assert issubclass(nvdx.NvdxError, RuntimeError)
    assert nvdx.version().count(".") == 2


def test_stubs_are_shipped():
    pkg = pathlib.Path(nvdx.__file__).parent
    names = {p.name for p in pkg.iterdir()}
    assert "py.typed" in names, names
    assert any(n.endswith(".pyi") for n in names), names


def test_metadata_needs_no_gpu():
    r = nvdx.VideoReader(FIXTURES / "sample.mp4")
    assert (r.width, r.height) == (320, 240)
    assert r.codec == "h264"
    assert r.container == "mp4"
    assert r.bit_depth == 8
    assert r.output_format == "nv12"
    assert len(r) > 0
    assert r.keyframes[0] == 0
    assert r.fps == pytest.approx(30.0, rel=1e-3)
    assert r.duration == pytest.approx(len(r) / 30.0, rel=0.05)
    assert r.uniform_indices(4) == sorted(r.uniform_indices(4))
    assert r.time_of(1) == pytest.approx(1 / 30, rel=1e-3)
    assert r.index_at(r.time_of(5)) == 5
    assert "VideoReader" in repr(r)


def test_bytes_and_pathlike_sources():
    path = FIXTURES / "sample.mp4"
    a = nvdx.VideoReader(str(path))
    b = nvdx.VideoReader(path.read_bytes())
    assert len(a) == len(b) and a.keyframes == b.keyframes
    with pytest.raises(TypeError):
        nvdx.VideoReader(12)


def test_index_errors_come_before_the_gpu():
    r = nvdx.VideoReader(FIXTURES / "sample.mp4")
    with pytest.raises(IndexError, match="past the end"):
        r.get_frames([0, len(r)])
    with pytest.raises(IndexError):
        r.get_frame(-len(r) - 1)
    with pytest.raises(IndexError, match="past the end"):
        r.time_of(len(r))


def test_bad_files_raise_nvdx_errors():
    with pytest.raises(nvdx.NvdxError):
        nvdx.VideoReader(FIXTURES / "garbage.bin")
    with pytest.raises(nvdx.NvdxError, match="does_not_exist"):
        nvdx.VideoReader(FIXTURES / "does_not_exist.mp4")


def test_bad_arguments():
    r = nvdx.VideoReader(FIXTURES / "sample.mp4")
    with pytest.raises(ValueError, match="dtype"):
        r.sample_tensor(2, dtype="int8")
    with pytest.raises(ValueError, match="colour"):
        r.sample_tensor(2, colour="srgb")
    with pytest.raises(ValueError, match="mean"):
        r.sample_tensor(2, mean=[0.1, 0.2])


@pytest.mark.skipif(have_driver(), reason="an NVIDIA driver is installed")
def test_decoding_without_a_driver_raises_nvdx_message():
    r = nvdx.VideoReader(FIXTURES / "sample.mp4")
    for call in (lambda: r.get_frames([0]), lambda: r.sample_uniform(2),
                 lambda: r.sample_tensor(2, size=64)):
        with pytest.raises(nvdx.NvdxError) as e:
            call()
        assert "libcuda" in str(e.value), str(e.value)
