"""Accelerator dimensions: a space that searches the accelerator together with the network.

Any space (shipped, Python or a YAML/TOML file) may add dimensions over the fields of the
accelerator template (:class:`hwmodel.accel.AccelConfig`: ``rows``, ``cols``, ``dataflow``,
``mac``, ``bit_serial``, the SRAM sizes and bandwidths, ``ca_rows_per_cycle``, ...). Each field
takes the same forms as a network knob (see :mod:`search_spaces.spaces.staged`): a scalar
(fixed), a list or ``{choices: [...]}`` (categorical), ``{low, high, step}`` (integer fields).
In a file::

    base: asic-encoder
    accelerator:
      rows: [8, 16, 32]
      dataflow: [ws, os]
      weight_sram_kbits: [16, 32, 64]

The dimension of field ``rows`` is named ``accel_rows`` (:data:`ACCEL_PREFIX`), so it never
collides with a network knob and reads as one in ``trial.params`` and the stored choices. Every
value is checked against the template itself (its own validation, not a copy of it): a value
the template rejects is an error naming the field and the rule. A candidate of such a space is
the pair (ArchSpec, accelerator fields); the fields the space does not search come from the
search's base accelerator (``--accel FILE`` or the defaults).

``hwmodel.accel`` is a leaf module (standard library only); reading the template's fields from
it keeps one description of the accelerator. It is imported lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from search_spaces.spaces.dims import Dim
from search_spaces.spaces.knobs import KnobDef, KnobError, parse_domain

#: Dimension name = prefix + the AccelConfig field.
ACCEL_PREFIX = "accel_"


def accel_field_types() -> dict[str, type]:
    """The template's fields and their types (from :func:`hwmodel.accel.field_types`)."""
    from hwmodel.accel import field_types

    return field_types()


def accel_dimensions(forms: Mapping[str, Any],
                     path: tuple[str | int, ...] = ("accelerator",)) -> tuple[Dim, ...]:
    """``{field: form}`` -> one dimension per field, in the mapping's order.

    Errors are :class:`~search_spaces.spaces.knobs.KnobError` with the path of the offending
    key or item (``("accelerator", "rows", 1)``), so a file loader can name its line.
    """
    from hwmodel.accel import AccelConfig

    where = ".".join(str(p) for p in path)
    if not isinstance(forms, Mapping):
        raise KnobError(path, f"{where}={forms!r} must be a mapping of accelerator field: "
                        "values")
    types = accel_field_types()
    base = AccelConfig()
    dims: list[Dim] = []
    for name, form in forms.items():
        at = (*path, str(name))
        if name not in types:
            raise KnobError(at, f"{where}: unknown field {name!r} (known: "
                            f"{', '.join(types)})")
        kdef = KnobDef(f"{where}.{name}", types[name], getattr(base, name),
                       f"accelerator {name}")
        domain = parse_domain(kdef, form, at)
        values = domain.values()
        for i, value in enumerate(values):
            try:
                base.with_(**{name: value})
            except ValueError as exc:
                item = (*at, i) if domain.choices is not None and len(values) > 1 else at
                rule = str(exc).removeprefix("accel: ").removeprefix(f"{name}={value!r} ")
                raise KnobError(item, f"{where}.{name}={value!r} {rule}") from None
        dims.append(domain.dim(ACCEL_PREFIX + str(name), None, f"accelerator {name}"))
    return tuple(dims)


def accel_fields_of(env: Mapping[str, Any]) -> dict[str, Any]:
    """The accelerator fields of an assignment (``accel_rows`` -> ``rows``)."""
    return {k.removeprefix(ACCEL_PREFIX): v for k, v in env.items()
            if k.startswith(ACCEL_PREFIX)}


__all__ = ["ACCEL_PREFIX", "accel_dimensions", "accel_field_types", "accel_fields_of"]
