"""Write the reference of every config key (configs/README.md) from the schema itself.

    python -m pfsim.config_docs > configs/README.md

A test checks that the committed file matches, so the reference cannot drift.
"""

import types
import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .config import RunConfig
from .units import si_unit

INTRO = """# Scenario files: every key

A scenario is a YAML file with the sections below. Unknown keys are errors. A physical
quantity is a bare number in SI units or a string with units, converted once on reading:
`"1 mA/cm^2"`, `"5 MPa"`, `"200 nm"`, `"25 degC"`, `"2 h"`. Any key can be overridden on the
command line: `pfsim run FILE --set time.stop=10 --set grid.shape=[64,64]`; `pfsim validate FILE`
checks a file without running it.

Generated from the schema by `python -m pfsim.config_docs`; do not edit by hand.
"""


def _models_in(annotation):
    """The pydantic models inside an annotation (unions, lists, dicts, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out = []
    for arg in typing.get_args(annotation):
        out += _models_in(arg)
    return out


def _type_name(field) -> str:
    ann = field.annotation
    dim = _dimension(field)
    if dim:
        return f"{dim} [{si_unit(dim)}]"
    if typing.get_origin(ann) is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in typing.get_args(ann))
    text = str(ann).replace("typing.", "").replace("pfsim.", "")
    if "Annotated" in text:  # validators and discriminators are not for the reader
        text = _plain(ann)
    if isinstance(ann, type):
        text = ann.__name__
    for mod in ("grid.", "config.", "initial.", "models.allen_cahn.", "models.cahn_hilliard."):
        text = text.replace(mod, "")
    text = text.replace("<class '", "").replace("'>", "").replace("NoneType", "none")
    return text.replace("|", "or")


def _plain(ann) -> str:
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return _plain(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_plain(a) for a in args)
    if origin is list:
        return f"list[{_plain(args[0])}]"
    return ann.__name__ if isinstance(ann, type) else str(ann)


def _dimension(field):
    """The dimension of a quantity field (pfsim.schema puts it in json_schema_extra), or None."""
    def marked(metadata):
        for meta in metadata or ():
            extra = getattr(meta, "json_schema_extra", None)
            if isinstance(extra, dict) and "dimension" in extra:
                return extra["dimension"]
        return None

    def scan(obj):
        found = marked(getattr(obj, "__metadata__", ()))
        for arg in typing.get_args(obj):
            found = found or scan(arg)
        return found

    return marked(field.metadata) or scan(field.annotation)


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "(section)"
    return f"`{value!r}`" if value is not None else "none"


def _table(model, prefix, sections):
    lines = [f"### `{prefix or 'top level'}`" + (f" ({model.__doc__.splitlines()[0]})" if model.__doc__ and prefix else ""), "",
             "| key | type / unit | default | meaning |", "|---|---|---|---|"]
    for name, field in sorted(model.model_fields.items(), key=lambda kv: kv[0] != "kind"):  # kind first
        desc = (field.description or "").replace("|", "\\|")
        if name == "kind" and typing.get_origin(field.annotation) is typing.Literal:
            desc = desc or "selects this variant"
            kind = typing.get_args(field.annotation)[0]
            lines.append(f"| `kind` | `{kind}` | required | {desc} |")
            continue
        lines.append(f"| `{name}` | {_type_name(field)} | {_default(field)} | {desc} |")
        for sub in _models_in(field.annotation):
            key = f"{prefix}.{name}" if prefix else name
            if "kind" in sub.model_fields:
                kind = typing.get_args(sub.model_fields["kind"].annotation)[0]
                key = f"{key} (kind: {kind})"
            sections.append((sub, key))
    lines.append("")
    return lines


def render() -> str:
    out = [INTRO]
    queue, seen = [(RunConfig, "")], set()
    while queue:
        model, prefix = queue.pop(0)
        if (model, prefix) in seen:
            continue
        seen.add((model, prefix))
        subs = []
        out += _table(model, prefix, subs)
        queue += subs
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
