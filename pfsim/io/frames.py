"""Fields of another run's store as the input of a new run (`model.initial_metal` of li_plating,
read by pfsim.build: models open no store)."""

import numpy as np


def last_frame(path, name="xi"):
    """(last frame of field `name`, electrolyte mask or None) of the store at `path`, or ValueError."""
    import zarr

    try:
        root = zarr.open_group(str(path), mode="r")
        frame = np.asarray(root[name][-1])
        electrolyte = np.asarray(root["electrolyte"][...]).astype(bool) if "electrolyte" in root else None
    except Exception as exc:
        raise ValueError(f"cannot read the last {name} frame of '{path}' ({type(exc).__name__}: {exc})") from None
    return frame, electrolyte
