"""Reading a field of another run's store as the input of a new run (e.g. the metal a stripping
run left, for `model.initial_metal` of a plating run)."""

import numpy as np


def last_frame(path, name="xi"):
    """(the last frame of field `name`, the store's electrolyte mask or None) of the run store at
    `path`; ValueError saying what could not be read."""
    import zarr

    try:
        root = zarr.open_group(str(path), mode="r")
        frame = np.asarray(root[name][-1])
        electrolyte = np.asarray(root["electrolyte"][...]).astype(bool) if "electrolyte" in root else None
    except Exception as exc:
        raise ValueError(f"cannot read the last {name} frame of '{path}' ({type(exc).__name__}: {exc})") from None
    return frame, electrolyte
