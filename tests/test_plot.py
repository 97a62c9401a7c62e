"""pfsim plot: battery units, labelled axes and colour bars read back from the figures, one colour
scale per field, the movie, the half-cycle titles and the failure paths."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as pyplot  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from conftest import CONFIGS, run_cli  # noqa: E402
from pfsim.plotting import half_cycle_ends, observables as po  # noqa: E402
from pfsim.plotting.fields import field_figure  # noqa: E402
from pfsim.plotting.units import convert, label, length_unit, time_unit  # noqa: E402


class Keep:
    """pyplot, with the figures it would close kept for reading back."""

    def __init__(self):
        self.figures = []

    def __getattr__(self, name):
        return getattr(pyplot, name)

    def close(self, fig):
        self.figures.append(fig)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("plot")
    made = {
        "strip": ("void_stripping.yaml", "time.stop=300", "output.fields_every=60"),
        "plate": ("filament_plating.yaml", "time.stop=60", "output.fields_every=20"),
    }
    out = {}
    for key, (config, *sets) in made.items():
        args = ["run", CONFIGS / config, "-o", root / f"{key}.zarr"]
        for s in sets:
            args += ["--set", s]
        assert run_cli(*args) == 0
        out[key] = root / f"{key}.zarr"
    return out


# --- units -----------------------------------------------------------------------------------
def test_battery_units():
    def one(value, units, name=""):
        v, u = convert([value], units, name)
        return pytest.approx(float(v[0])), u

    assert one(10.0, "A/m^2") == (1.0, "mA/cm\u00b2")
    assert one(36000.0, "C/m^2") == (1.0, "mAh/cm\u00b2")
    assert one(2e5, "Pa") == (0.2, "MPa")
    assert one(0.05, "V") == (50.0, "mV") and one(1.5, "V") == (1.5, "V")
    assert one(2.5e-6, "m") == (2.5, "\u00b5m")
    assert one(2e-12, "m^3/m") == (2.0, "\u00b5m\u00b3/\u00b5m")
    assert one(298.15, "K") == (25.0, "\u00b0C")
    assert one(0.25, "1", "contact_fraction") == (25.0, "%")
    assert one(3, "1", "void_count") == (3.0, "")
    assert one(90.0, "s") == (90.0, "s") and one(600.0, "s") == (10.0, "min") and one(7.2e4, "s") == (20.0, "h")
    assert length_unit(2e-5) == (1e6, "\u00b5m") and length_unit(0.05) == (1e3, "mm") and length_unit(200) == (1.0, "m")
    assert time_unit(100) == (1.0, "s") and time_unit(3000) == (60.0, "min") and time_unit(1e4) == (3600.0, "h")
    assert label("cell_voltage", "mV") == "cell voltage [mV]" and label("void_count", "") == "void count"


def test_half_cycle_ends_name_each_half_cycle():
    from pfsim.drive import DriveConfig
    from pfsim.protocol import Protocol

    drive = DriveConfig(current_density=[{"repeat": 2, "segments": [
        {"duration": 60, "value": "2 mA/cm^2"}, {"duration": 30, "value": 0},
        {"duration": 60, "value": "-2 mA/cm^2"}, {"duration": 30, "value": 0}]}])
    ends = half_cycle_ends(Protocol(drive.current_density), 1e9)
    assert [(t, kind, n) for t, kind, n, _ in ends] == [
        (60.0, "strip", 1), (150.0, "plate", 1), (240.0, "strip", 2), (330.0, "plate", 2)]


# --- what the figures say --------------------------------------------------------------------
def _axes_of(fig):
    """(plot axes, colour-bar axes) of a figure."""
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    return [ax for ax in fig.axes if ax.get_visible() and ax not in bars], bars


def _check_labels(fig):
    fig.canvas.draw()  # offset texts exist once drawn
    plots, bars = _axes_of(fig)
    for ax in plots:
        for numbers, name in ((ax.get_xticklabels(), ax.get_xlabel()), (ax.get_yticklabels(), ax.get_ylabel())):
            shown = [t for t in numbers if t.get_visible() and t.get_text()]
            assert name or not shown, ax.get_title()  # every numbered axis is named (shared ones once)
        for axis in (ax.xaxis, ax.yaxis):
            assert axis.get_offset_text().get_text() == "", axis.get_offset_text().get_text()
    for bar in bars:
        text = bar.get_ylabel()
        assert "[" in text and "]" in text, text
    return plots, bars


def test_observable_figures_are_grouped_in_battery_units_and_labelled(stores, tmp_path):
    ds = xr.open_zarr(stores["strip"])
    keep = Keep()
    written = po.grouped(ds, tmp_path, keep)
    assert [p.name for p in written] == ["electrochemistry.png", "interface.png", "balances.png", "observables.png"]
    electro, interface, balances, rest = keep.figures
    plots, _ = _check_labels(electro)
    labels = [ax.get_ylabel() for ax in plots] + [ax.get_xlabel() for ax in plots]
    assert "voltage [mV]" in labels and any(s.startswith("current density [mA/cm\u00b2]") for s in labels)
    assert "time [min]" in labels and "capacity passed [mAh/cm\u00b2]" in labels
    # the capacity axis reaches the charge passed: 1 mA/cm^2 for 5 min
    x_cap = plots[1].lines[0].get_xdata()
    assert x_cap[-1] == pytest.approx(1 * 300 / 3600, rel=1e-6)
    plots, _ = _check_labels(interface)
    names = {ax.get_ylabel() for ax in plots}
    assert {"contact fraction [%]", "void fraction [%]", "void count", "largest void [\u00b5m]"} <= names
    plots, _ = _check_labels(balances)
    assert plots[0].get_yscale() == "log" and len(plots[0].lines) == sum(n in ds for n in po.BALANCES) > 0
    _check_labels(rest)
    assert "stack pressure 0.2 MPa" in rest._suptitle.get_text()


def test_field_maps_share_one_colour_scale_and_show_the_cell(stores, tmp_path):
    ds = xr.open_zarr(stores["plate"])
    picks = [0, 1, 2, 3]
    for name in ("xi", "potential", "damage"):
        keep = Keep()
        field_figure(ds, name, picks, tmp_path / f"{name}.png", keep)
        fig = keep.figures[0]
        plots, bars = _check_labels(fig)
        images = [im for ax in plots for im in ax.images]
        assert len(images) == len(picks) and len(bars) == 1
        assert len({im.get_clim() for im in images}) == 1  # one scale across the times
        for ax in plots:
            assert ax.get_xlabel() in ("x [\u00b5m]", "") and ax.get_aspect() == 1.0
        assert plots[0].get_ylabel() == "y (normal) [\u00b5m]"
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert "grain boundaries" in legend
        if name == "xi":
            assert {"metal", "void", "electrolyte (SSE)"} <= set(legend)
            # the electrolyte is its own (masked, grey) region; metal and void colours differ from it
            shown = images[0].get_array()
            assert np.ma.getmaskarray(shown).sum() == int((ds.electrolyte.values.T == 1).sum())
        if name == "potential":
            lo, hi = images[0].get_clim()
            assert bars[0].get_ylabel() == "Li\u207a potential \u03c6 [mV]" and hi - lo > 10  # mV, not V
            values = ds.potential.values[picks][:, ds.electrolyte.values == 1] * 1e3
            assert lo <= values.min() + 1e-9 and hi >= values.max() - 1e-9  # the scale covers every frame


def test_stripping_maps_draw_the_contact_line(stores, tmp_path):
    ds = xr.open_zarr(stores["strip"])
    keep = Keep()
    field_figure(ds, "xi", [0, ds.sizes["time"] - 1], tmp_path / "xi.png", keep)
    fig = keep.figures[0]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "contact (metal on SSE)" in legend
    plots, _ = _axes_of(fig)
    green = [line for ax in plots for line in ax.lines if line.get_color() == "#1a9850"]
    assert len(green) == 2
    # less contact at the end than at the start (voids): the line is shorter
    lengths = [np.nansum(np.abs(np.diff(line.get_xdata()))) for line in green]
    assert lengths[1] < lengths[0]


def test_plot_command_and_movie(stores, tmp_path, capsys):
    out = tmp_path / "plots"
    assert run_cli("plot", stores["plate"], "-o", out, "--movie", "--fields", "xi", "damage") == 0
    text = capsys.readouterr().out
    movies = list(out.glob("movie.*"))
    assert len(movies) == 1 and movies[0].stat().st_size > 0
    fmt = "MP4 (ffmpeg)" if movies[0].suffix == ".mp4" else "GIF (Pillow: no ffmpeg found)"
    assert f"movie: {movies[0]} ({fmt})" in text
    if movies[0].suffix == ".gif":
        from PIL import Image

        assert Image.open(movies[0]).n_frames == xr.open_zarr(stores["plate"]).sizes["time"]
    for name in ("electrochemistry", "interface", "balances", "voltage", "xi", "damage"):
        assert (out / f"{name}.png").is_file(), name
    assert not (out / "potential.png").exists()


# --- failure paths -----------------------------------------------------------------------------
def test_unknown_field_is_one_line_and_exit_2(stores, tmp_path, capsys):
    out = tmp_path / "p"
    assert run_cli("plot", stores["strip"], "-o", out, "--fields", "nope", "--movie") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "plot --fields: nope not in the store" in err and "Traceback" not in err
    assert not out.exists()


def test_an_output_folder_that_cannot_be_written_is_one_line_and_exit_4(stores, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert run_cli("plot", stores["strip"], "-o", blocker / "plots") == 4  # a file where the folder goes
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pfsim: I/O error: ") and str(blocker) in err
    if os.geteuid() == 0:
        return  # root writes into read-only folders
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert run_cli("plot", stores["strip"], "-o", ro) == 4
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(ro) in err and "Permission denied" in err
    finally:
        ro.chmod(0o755)


def test_a_damaged_store_is_drawn_with_its_missing_data_marked(stores, tmp_path):
    import shutil

    store = tmp_path / "d.zarr"
    shutil.copytree(stores["strip"], store)
    (store / "xi" / "c" / "1" / "0" / "0").unlink()  # frame 1 of xi: reads back as NaN
    for p in (store / "cell_voltage" / "c").rglob("*"):
        if p.is_file():
            p.unlink()
    ds = xr.open_zarr(store)
    keep = Keep()
    field_figure(ds, "xi", [0, 1], tmp_path / "xi.png", keep)
    titles = [ax.get_title() for ax in _axes_of(keep.figures[0])[0]]
    assert "data missing" not in titles[0] and "data missing, white: damaged store" in titles[1]
    assert run_cli("plot", store, "-o", tmp_path / "p", "--fields", "xi") == 0  # no traceback over NaN
